"""``perpdex replay``: rebuild the books of a recording with the live feed classes over the
replay transport (:mod:`perpdex.recording.transport`): the same client, catalog load, feed,
parser, snapshot sync and gap detection as live, fed from the files instead of the network."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StaleMarketData
from ..exchanges import registry
from ..exchanges.base import ExchangeClient, ExchangeSettings
from ..models import FundingRateSample
from . import format as fmt
from .transport import ReplayClock, ReplayCursor, ReplaySession, SteppedClock
from .writer import read_manifest

log = logging.getLogger(__name__)

_STALL_S = 5.0  # advance_to: give up waiting for records nothing consumes after this long


@dataclass
class ReplayedExchange:
    """One exchange of a replay: its client (whose ``feed`` holds the books) and cursor."""

    name: str
    client: ExchangeClient
    cursor: ReplayCursor
    symbols: list[str]


@dataclass
class Replay:
    """A replay in progress. ``exchanges``: name -> :class:`ReplayedExchange`; ``missing``: files
    the manifest lists that are not on disk."""

    directory: Path
    manifest: dict[str, Any]
    clock: ReplayClock
    exchanges: dict[str, ReplayedExchange] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(x.cursor.done.is_set() for x in self.exchanges.values())

    async def wait(self, on_tick: Callable[[Replay], None] | None = None, tick_s: float = 0.25) -> None:
        """Until every exchange's records are consumed (``on_tick`` about every ``tick_s``)."""
        while not self.done:
            if on_tick is not None:
                on_tick(self)
            waits = [asyncio.ensure_future(x.cursor.done.wait()) for x in self.exchanges.values()]
            _, pending = await asyncio.wait(waits, timeout=tick_s, return_when=asyncio.ALL_COMPLETED)
            for p in pending:
                p.cancel()
        for _ in range(3):  # resync / snapshot tasks woken by the last records run now
            await asyncio.sleep(0)

    def frames(self) -> int:
        return sum(x.cursor.frames for x in self.exchanges.values())

    def books(self, levels: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """exchange -> symbol -> ``{"ready", "sequence", "bids", "asks"}`` (levels as [price USD,
        size base units], best first; ``reason`` when the book is not served)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, x in self.exchanges.items():
            out[name] = {}
            for sym in x.symbols:
                try:
                    book = x.client.feed.book(sym)
                except StaleMarketData as exc:
                    out[name][sym] = {"ready": False, "reason": str(exc)}
                    continue
                out[name][sym] = {"ready": True, "sequence": book.sequence,
                                  "bids": [list(lv) for lv in book.bids(levels)],
                                  "asks": [list(lv) for lv in book.asks(levels)]}
        return out

    def funding(self) -> dict[str, dict[str, dict[str, Any]]]:
        """exchange -> symbol -> the last funding sample the feed decoded from the recorded public
        funding stream: ``{"rate", "interval_hours", "rate_8h", "apr", "mark_price",
        "next_funding_time", "source"}`` (rates as fractions: per interval, per 8 h, per year;
        mark USD; time ISO UTC or None). Symbols without one are left out."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, x in self.exchanges.items():
            out[name] = {sym: funding_json(f) for sym, f in x.client.feed.funding_samples().items()}
        return out

    def summary(self) -> dict[str, Any]:
        """Per exchange: frames and REST answers replayed, connections, resyncs (gaps the live
        code detected), frames the feed dropped as malformed, damaged parts (file, offset)."""
        out: dict[str, Any] = {}
        for name, x in self.exchanges.items():
            feed = x.client.feed
            c = x.cursor
            out[name] = {"frames": c.frames, "rest": c.rest, "rest_unclaimed": c.rest_unclaimed,
                         "connections": c.connections, "resyncs": getattr(feed, "resyncs", 0),
                         "dropped": getattr(feed, "frames_dropped", 0),
                         "funding_frames": getattr(feed, "funding_frames", 0), "errors": [str(e) for e in c.errors]}
        return out

    async def advance_to(self, ts_ns: int) -> None:
        """With a stepped replay (``open_replay(..., stepped=True)``): play every record received
        at or before ``ts_ns`` (ns since the epoch) and return once the feeds have processed them,
        so :meth:`books` shows the books as they were at that time. Times only move forward.
        Raises RuntimeError on a replay that is not stepped."""
        clock = self.clock
        if not isinstance(clock, SteppedClock):
            raise RuntimeError("advance_to() needs open_replay(..., stepped=True)")
        clock.advance(ts_ns)
        cursors = [x.cursor for x in self.exchanges.values()]

        def settled() -> bool:
            return all(c.next is None or c.next[1] > ts_ns for c in cursors)

        loop = asyncio.get_running_loop()
        progress, since = -1, loop.time()
        while True:
            for _ in range(8):  # the sockets, resync and snapshot tasks run
                await asyncio.sleep(0)
            if not settled():
                now = self.frames() + sum(c.rest + c.rest_unclaimed for c in cursors)
                if now != progress:
                    progress, since = now, loop.time()
                elif loop.time() - since > _STALL_S:  # nothing reads the records that are due
                    log.warning("replay: no record consumed for %.0f s before %d ns; going on", _STALL_S, ts_ns)
                    return
                await asyncio.sleep(0.001)
                continue
            frames, rest = self.frames(), sum(c.rest for c in cursors)
            for _ in range(8):
                await asyncio.sleep(0)
            if settled() and self.frames() == frames and sum(c.rest for c in cursors) == rest:
                return

    async def close(self) -> None:
        for x in self.exchanges.values():
            with contextlib.suppress(Exception):
                await x.client.close()


def funding_json(f: FundingRateSample) -> dict[str, Any]:
    """A :class:`FundingRateSample` as plain JSON figures (see :meth:`Replay.funding`)."""
    return {"rate": f.raw_rate, "interval_hours": f.interval_hours, "rate_8h": f.normalized_rate, "apr": f.apr,
            "mark_price": f.mark_price,
            "next_funding_time": f.next_funding_time.isoformat() if f.next_funding_time is not None else None,
            "source": f.metadata.get("source")}


async def open_replay(directory: str | Path, *, speed: float | None = None,
                      exchanges: list[str] | None = None, stepped: bool = False) -> Replay:
    """Start replaying ``directory`` (``speed`` x recorded time; None: as fast as possible) on the
    exchanges it recorded (or ``exchanges``): per exchange a client with the recorded settings
    over a :class:`ReplaySession`, connected (catalog from the recording) and subscribed to the
    recorded symbols. Await :meth:`Replay.wait`, read :meth:`Replay.books`, then
    :meth:`Replay.close`. ``stepped``: nothing is played until :meth:`Replay.advance_to` moves
    the clock (``speed`` is then ignored). Raises FileNotFoundError / ValueError for a missing or bad manifest,
    ValueError for an exchange that is not in the recording."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    recorded = manifest.get("exchanges", {})
    names = exchanges or list(recorded)
    absent = [n for n in names if n not in recorded]
    if absent:
        raise ValueError(f"{directory}: no recording of {', '.join(absent)} (has: {', '.join(recorded)})")
    firsts = [m["first_ns"] for n, m in recorded.items() if n in names and m.get("first_ns")]
    origin = min(firsts) if firsts else manifest.get("started_ns", 0)
    clock = SteppedClock(origin) if stepped else ReplayClock(origin, speed)
    rp = Replay(directory, manifest, clock)
    for name in names:
        meta = recorded[name]
        files = []
        for rel in meta.get("files", []):
            path = directory / rel
            if path.exists():
                files.append(path)
            else:
                rp.missing.append(str(path))
                log.warning("replay: %s is listed in the manifest but missing; skipped", path)
        files += [p for p in fmt.recording_files(directory / name) if p not in files]  # unlisted (crash) tail
        cursor = ReplayCursor(files, clock)
        settings = ExchangeSettings(name=name, rest_url=meta.get("rest_url"), ws_url=meta.get("ws_url"),
                                    options=dict(meta.get("options") or {}))
        client = registry.client_class(name)(settings)
        client.use_session(ReplaySession(cursor))
        feed: Any = client.feed
        feed.reconnect_delay = 0.0  # a recorded reconnect is replayed at once
        if speed is None or stepped:
            feed.stale_after = math.inf  # recorded time does not pass at max speed
        symbols = list(meta.get("symbols") or manifest.get("symbols") or [])
        rp.exchanges[name] = ReplayedExchange(name, client, cursor, symbols)
        await client.connect()
        for sym in symbols:
            await client.prepare_market_feed(sym)
    clock.start()
    return rp
