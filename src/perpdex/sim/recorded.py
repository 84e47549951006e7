"""A recording as the emulator's market process (``sim.market: {recording: DIR}``).

The recording is replayed exactly as ``perpdex replay`` does it (:func:`perpdex.recording.replay.
open_replay`: per recorded exchange the real client and feed over the replay transport, paced on
the recorded receive times at ``speed`` x wall-clock). :class:`RecordedMarket` watches the
rebuilt books and installs each new state into the emulated venue of the same name
(:meth:`~perpdex.sim.engine.Venue.set_recorded_book`), so the venue's makers' book *is* the
recorded one: takers walk it, resting orders it crosses fill, and the emulator's own feeds
publish it to its clients.

What comes from where, per recorded (exchange, symbol) the emulator also trades:

* **book**: the recording's (every state the replayed feed reaches, checked every ``poll_s``);
* **mark price**: the venue's rule, the mid of its published book, so the recorded mid;
* **index price**: the recorded mid (in base-asset units: divided by the market's multiplier and
  its scenario basis), from the first venue in scenario order that recorded the symbol; the
  seeded index process leaves the symbol alone, so venues that did *not* record it quote their
  seeded ladder around the recorded price;
* **funding estimates and payments**: the scenario's funding process (a recording's public
  funding streams are decoded by the replay but not installed as the venues' rates).

Exchanges and symbols the recording lacks keep the scenario's seeded process; recorded ones the
emulator does not run are skipped (logged). A recording that shares nothing with the emulator is
refused (:class:`RecordedMarketError`). At the end of the recording the last books are held
(``loop`` False) or the recording starts over (``loop`` True; the last books are held while it
reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path
from typing import Any

from ..errors import StaleMarketData
from ..recording.replay import Replay, open_replay
from ..recording.writer import read_manifest
from .engine import Simulation

log = logging.getLogger(__name__)


class RecordedMarketError(ValueError):
    """The recording cannot drive the emulator (missing, invalid, or nothing in common)."""


def check_recording(directory: str | Path) -> dict[str, Any]:
    """The manifest of the recording in ``directory`` when it can drive the emulator; raises
    :class:`RecordedMarketError` naming the directory (missing, not a recording, no exchange
    recorded, or no recorded symbols)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordedMarketError(f"{directory}: no such directory")
    try:
        manifest = read_manifest(directory)
    except (OSError, ValueError) as exc:
        raise RecordedMarketError(str(exc)) from None
    exchanges = manifest.get("exchanges") or {}
    if not exchanges:
        raise RecordedMarketError(f"{directory}: the recording holds no exchange")
    if not any(m.get("symbols") for m in exchanges.values()) and not manifest.get("symbols"):
        raise RecordedMarketError(f"{directory}: the recording names no symbol")
    return manifest


class RecordedMarket:
    """Drives ``sim``'s venues from the recording in ``directory`` (see the module doc).

    ``speed``: recorded seconds per wall-clock second (> 0); ``loop``: start over at the end;
    ``ready_timeout``: seconds :meth:`start` waits for the recorded books to be built before the
    emulator serves (books not ready by then follow once they are); ``poll_s``: seconds between
    checks of the replayed books (a check costs a timestamp comparison per book when nothing
    changed). Counters: ``installs`` (book states installed), ``loops`` (restarts)."""

    def __init__(self, sim: Simulation, directory: str | Path, *, speed: float = 1.0, loop: bool = False,
                 ready_timeout: float = 10.0, poll_s: float = 0.01) -> None:
        if not speed > 0:
            raise RecordedMarketError(f"speed must be positive, got {speed}")
        self.sim = sim
        self.directory = Path(directory)
        self.speed = speed
        self.loop = loop
        self.ready_timeout = ready_timeout
        self.poll_s = poll_s
        self.manifest = check_recording(self.directory)
        self.routes = self._routes()
        #: symbol -> the venue whose recorded mid is its index: the first in scenario order
        self.index_source: dict[str, str] = {}
        for name in self.sim.venues:
            for sym in self.routes.get(name, []):
                self.index_source.setdefault(sym, name)
        self.replay: Replay | None = None
        self.installs = 0
        self.loops = 0
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def _routes(self) -> dict[str, list[str]]:
        """Recorded exchange -> the recorded symbols its venue trades; raises ValueError when
        there are none at all."""
        routes: dict[str, list[str]] = {}
        recorded = self.manifest["exchanges"]
        for name, meta in recorded.items():
            venue = self.sim.venues.get(name)
            symbols = list(meta.get("symbols") or self.manifest.get("symbols") or [])
            if venue is None:
                log.info("sim market: %s is in the recording but not emulated; skipped", name)
                continue
            missing = [s for s in symbols if s not in venue.markets]
            if missing:
                log.warning("sim market: %s %s recorded but not in the scenario; skipped", name, ", ".join(missing))
            kept = [s for s in symbols if s in venue.markets]
            if kept:
                routes[name] = kept
        if not routes:
            raise RecordedMarketError(f"{self.directory}: the recording ({', '.join(recorded)}) shares no exchange and "
                             f"symbol with the emulator ({', '.join(self.sim.venues)})")
        return routes

    async def start(self) -> None:
        """Open the replay, wait up to ``ready_timeout`` s for its books, install them and keep
        following the recording in a task."""
        await self._open()
        self.install()
        self._task = asyncio.create_task(self._run(), name="sim-recorded-market")

    async def _open(self) -> None:
        try:
            self.replay = rp = await open_replay(self.directory, speed=self.speed, exchanges=list(self.routes))
        except (OSError, ValueError) as exc:
            raise RecordedMarketError(f"{self.directory}: {exc}") from None
        for x in rp.exchanges.values():
            x.client.feed.stale_after = math.inf  # a held or slowly replayed book is still the market's
        self._seen.clear()
        waits = [x.client.feed.wait_ready(sym, self.ready_timeout)
                 for name, x in rp.exchanges.items() for sym in self.routes[name]]
        ready = await asyncio.gather(*waits)
        if not all(ready):
            log.warning("sim market: %d recorded book(s) not built within %.0f s; the seeded process quotes "
                        "them until they are", ready.count(False), self.ready_timeout)

    def install(self) -> int:
        """Install every replayed book that changed since the last call; returns how many."""
        rp = self.replay
        if rp is None:
            return 0
        n = 0
        index = self.sim.index
        for name, x in rp.exchanges.items():
            venue = self.sim.venues[name]
            feed = x.client.feed
            for sym in self.routes[name]:
                try:
                    book = feed.book(sym)
                except StaleMarketData:
                    continue  # not (yet) built, or resyncing: the venue holds what it had
                key = (id(book), book.updated_at)
                if self._seen.get((name, sym)) == key:
                    continue
                bids, asks = book.bids(), book.asks()
                if not bids or not asks:
                    continue
                self._seen[(name, sym)] = key
                if self.index_source[sym] == name:
                    m = venue.markets[sym]
                    index.external.add(sym)
                    index.prices[sym] = (bids[0][0] + asks[0][0]) / 2.0 / m.multiplier / (1.0 + m.basis_bps / 10_000.0)
                venue.set_recorded_book(sym, dict(bids), dict(asks))
                n += 1
        self.installs += n
        return n

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.install()
                if self.loop and self.replay is not None and self.replay.done:
                    for _ in range(3):  # the feed tasks woken by the last records apply them
                        await asyncio.sleep(0)
                    self.install()
                    await self.replay.close()
                    self.replay = None
                    self.loops += 1
                    log.info("sim market: %s ended; starting it over (loop %d)", self.directory, self.loops)
                    await self._open()
            except Exception:  # noqa: BLE001 - keep the market alive, log the bug
                log.exception("recorded market step failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.replay is not None:
            await self.replay.close()
            self.replay = None
