"""Backpack order books: REST snapshot + ``depth.<symbol>`` deltas, BBO from ``bookTicker``.

Protocol (docs/exchanges/backpack.md §3.2, §4.4, §4.5; docs.backpack.exchange, Streams):

1. ``{"method": "SUBSCRIBE", "params": ["depth.<sym>", "bookTicker.<sym>"]}`` (no ack is sent);
   depth events are buffered from then on.
2. ``GET /api/v1/depth?symbol=<sym>`` -> ``lastUpdateId`` L (string).
3. Buffered events with ``u <= L`` are discarded; the first applied one must satisfy
   ``U <= L + 1 <= u`` (if the earliest one has ``U > L + 1`` the snapshot is too old: fetch again).
4. Each later event applies only if ``U == previous u + 1``; otherwise the book is invalid (not
   ready, cleared) and step 2 starts again while the subscription keeps buffering.

Funding stream (``funding_stream=True``): ``markPrice.<sym>`` (``f`` funding rate per interval,
``n`` next funding time ms, ``p`` mark, ``i`` index) is subscribed with the book streams. The
interval is the market's ``fundingInterval`` from ``GET /api/v1/markets`` (read once when the
first symbol is prepared); samples are built by :func:`~.funding.funding_sample`, the REST
adapter's own path.

Quantities are absolute (``"0"`` deletes). Frames are ``{"stream": ..., "data": {...}}`` with
``E``/``T`` in microseconds. Prices USD (USDC), sizes base units (contract units for ``k``
markets). A malformed frame raises in :meth:`BackpackMarketFeed.handle_frame` (the base class
logs and drops it); when the frame names a depth stream, that book is resynced at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from ..feed import WsMarketFeed
from . import schemas
from .funding import active_perps, funding_sample, mark_row_from_event
from .rest import EXCHANGE, BackpackRest
from .symbols import BackpackSymbols

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://ws.backpack.exchange"
SNAPSHOT_LIMIT = 1000
_DEPTH_STREAM = re.compile(rb'"depth\.(?:\d+ms\.)?([A-Za-z0-9_.]+)"')


_Delta = tuple[int, int, list[tuple[float, float]], list[tuple[float, float]]]  # U, u, bids, asks


@dataclass
class _Sync:
    """Per-symbol synchronisation state: buffered deltas while no snapshot is applied."""

    buffer: list[_Delta] = field(default_factory=list)
    synced: bool = False
    bridged: bool = False  # the first delta after the snapshot has been applied
    task: asyncio.Task[None] | None = None
    generation: int = 0


class BackpackMarketFeed(WsMarketFeed):
    """Books and BBOs for any number of Backpack perps on one socket, subscribed on demand.

    ``symbols`` (kept as :attr:`catalog`) maps canonical symbols to ``BTC_USDC_PERP`` names (a
    symbol not in it is mapped by the naming rule). ``rest_url`` serves the depth snapshots;
    ``snapshot_retry`` seconds is the first back-off after a failed or too-old snapshot.
    :attr:`snapshots` counts the snapshots applied."""
    #: seconds of silence (no frame, no pong) after which the socket is down: see docs/RESILIENCE.md
    #: (Backpack pings every 60 s and answers ours; waiting for its ping would take up to 60 s)
    silence_timeout = 30.0

    def __init__(
        self,
        ws_url: str | None = None,
        *,
        rest_url: str | None = None,
        symbols: BackpackSymbols | None = None,
        session: aiohttp.ClientSession | None = None,
        snapshot_retry: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(EXCHANGE, ws_url or DEFAULT_WS_URL, session=session, **kwargs)
        self.rest = BackpackRest(rest_url, session_of=self.http_session)
        self.catalog = symbols if symbols is not None else BackpackSymbols()
        self.snapshot_retry = snapshot_retry
        self._sync: dict[str, _Sync] = {}
        self.snapshots = 0  # REST snapshots applied (for inspection)
        self.markets: dict[str, schemas.Market] | None = None  # canonical -> market, read with funding_stream

    # -- hooks -----------------------------------------------------------------------------------
    def subscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        """SUBSCRIBE depth + bookTicker; (re)starts the snapshot procedure for ``symbol``."""
        self._restart(symbol)
        return [{"method": "SUBSCRIBE", "params": self._streams(symbol)}]

    def unsubscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [{"method": "UNSUBSCRIBE", "params": self._streams(symbol)}]

    def _streams(self, symbol: str) -> list[str]:
        dex = self.catalog.name(symbol)
        return [f"depth.{dex}", f"bookTicker.{dex}"] + ([f"markPrice.{dex}"] if self.funding_stream else [])

    async def prepare(self, symbol: str) -> None:
        """As the base; with ``funding_stream`` the markets (funding intervals) are read first (once)."""
        if self.funding_stream and self.markets is None:
            await self.load_markets()
        await super().prepare(symbol)

    async def load_markets(self) -> None:
        """Read ``GET /api/v1/markets?marketType=PERP`` (``fundingInterval`` per market) for the
        funding stream; a failure is logged and the read retried at the next :meth:`prepare`."""
        try:
            self.markets = active_perps(await self.rest.get("/api/v1/markets", {"marketType": "PERP"}), self.catalog)
        except Exception as exc:  # noqa: BLE001 - the book feed goes on; funding waits for the markets
            log.warning("%s feed: markets (GET /api/v1/markets) unavailable for funding: %s", EXCHANGE, exc)

    async def resync(self, symbol: str) -> None:
        """Fresh REST snapshot while the subscription keeps buffering deltas (no resubscribe)."""
        self._restart(symbol)

    async def remove(self, symbol: str) -> None:
        sync = self._sync.pop(symbol, None)
        if sync is not None and sync.task is not None:
            sync.task.cancel()
        await super().remove(symbol)

    async def close(self) -> None:
        tasks = [sync.task for sync in self._sync.values() if sync.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sync.clear()
        await super().close()

    def handle_frame(self, data: bytes) -> None:
        """Apply one server frame. Raises ``ValueError`` / msgspec errors on malformed, unknown
        or error frames (the base class logs and drops them)."""
        try:
            env = schemas.envelope.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._resync_named(data)
            raise
        if env.error is not None:
            raise ValueError(f"error frame: {env.error}")
        if env.stream is None or not bytes(env.data):
            raise ValueError("frame without stream or data")
        kind = env.stream.split(".", 1)[0]
        try:
            if kind == "depth":
                self._on_depth(schemas.depth_event.decode(env.data))
            elif kind == "bookTicker":
                self._on_book_ticker(schemas.book_ticker_event.decode(env.data))
            elif kind == "markPrice":
                self._on_mark_price(schemas.mark_price_event.decode(env.data))
            else:
                raise ValueError(f"unexpected stream {env.stream!r}")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            if kind == "depth":
                self._resync_named(data)
            raise

    # -- internals -------------------------------------------------------------------------------
    def _resync_named(self, data: bytes) -> None:
        """A broken depth frame: invalidate the book it names (its delta is lost)."""
        mt = _DEPTH_STREAM.search(data)
        if mt is None:
            return
        symbol = self.catalog.find(mt.group(1).decode(errors="replace"))
        if symbol in self._states:
            self.invalidate(symbol, "malformed depth frame")

    def _restart(self, symbol: str) -> None:
        sync = self._sync.get(symbol)
        if sync is None:
            sync = self._sync[symbol] = _Sync()
        if sync.task is not None:
            sync.task.cancel()
        sync.generation += 1
        sync.synced = False
        sync.bridged = False
        sync.buffer.clear()
        st = self._states.get(symbol)
        if st is not None:
            st.ready.clear()
            st.book.clear()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        sync.task = loop.create_task(self._snapshot(symbol, sync.generation), name=f"{EXCHANGE}-snapshot-{symbol}")

    async def _snapshot(self, symbol: str, generation: int) -> None:
        """Fetch snapshots until one lines up with the buffered deltas (§4.5 steps 2-4)."""
        dex = self.catalog.name(symbol)
        delay = self.snapshot_retry
        while True:
            sync = self._sync.get(symbol)
            if sync is None or sync.generation != generation or self._closing:
                return
            try:
                snap = await self.rest.get("/api/v1/depth", {"symbol": dex, "limit": str(SNAPSHOT_LIMIT)},
                                           into=schemas.depth)
                last = schemas.to_int(snap.lastUpdateId, "lastUpdateId")
                bids = schemas.levels(snap.bids, "bids")
                asks = schemas.levels(snap.asks, "asks")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried; bad input never kills the feed
                log.warning("%s %s: depth snapshot failed (retry in %.1fs): %s", EXCHANGE, symbol, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)  # an unknown symbol must not hammer the API
                continue
            sync = self._sync.get(symbol)
            st = self._states.get(symbol)
            if sync is None or st is None or sync.generation != generation or not self._connected.is_set():
                return  # superseded, removed, or the socket dropped (the reconnect restarts it)
            pending = [d for d in sync.buffer if d[1] > last]
            if pending and pending[0][0] > last + 1:
                log.info("%s %s: snapshot %d older than buffered deltas (U=%d); refetching", EXCHANGE, symbol,
                         last, pending[0][0])
                await asyncio.sleep(self.snapshot_retry)
                continue
            st.book.apply_snapshot(bids, asks, last)
            sync.buffer.clear()
            sync.synced = True
            sync.task = None
            self.snapshots += 1
            for delta in pending:
                if not self._apply(symbol, sync, delta):
                    return
            self.mark_ready(symbol)
            return

    def _apply(self, symbol: str, sync: _Sync, delta: _Delta) -> bool:
        """Apply one delta to a synced book: the first must bracket the snapshot id
        (``U <= L + 1 <= u``), later ones must chain (``U == previous u + 1``). A broken chain
        invalidates the book (returns False)."""
        book = self._states[symbol].book
        first, last, bids, asks = delta
        prev = book.sequence
        if prev is None:
            return False
        if last <= prev and not sync.bridged:
            return True  # already in the snapshot
        ok = first == prev + 1 if sync.bridged else first <= prev + 1 <= last
        if not ok:
            self.invalidate(symbol, f"sequence gap: U={first} after u={prev}")
            return False
        sync.bridged = True
        book.apply_levels(bids, asks, last)
        if book.is_crossed():
            self.invalidate(symbol, "crossed book")
            return False
        return True

    def _on_depth(self, ev: schemas.DepthEvent) -> None:
        first, last = schemas.to_int(ev.U, "U"), schemas.to_int(ev.u, "u")
        if first > last:
            raise ValueError(f"depth event with U={first} > u={last}")
        delta = (first, last, schemas.levels(ev.b, "b"), schemas.levels(ev.a, "a"))
        symbol = self.catalog.find(ev.s)
        sync = self._sync.get(symbol) if symbol is not None else None
        if sync is None or symbol not in self._states:
            return  # a market we no longer (or never) follow
        if not sync.synced:
            sync.buffer.append(delta)
            return
        self._apply(symbol, sync, delta)

    def _on_book_ticker(self, ev: schemas.BookTickerEvent) -> None:
        (bid, bid_size), (ask, ask_size) = schemas.levels([(ev.b, ev.B), (ev.a, ev.A)], "bookTicker")
        symbol = self.catalog.find(ev.s)
        if symbol is None or symbol not in self._states:
            return
        if bid > 0 and ask > 0:
            self.set_bbo(symbol, bid, bid_size, ask, ask_size)

    def _on_mark_price(self, ev: schemas.MarkPriceEvent) -> None:
        symbol = self.catalog.find(ev.s)
        market = self.markets.get(symbol) if self.markets is not None and symbol is not None else None
        if symbol is None or symbol not in self._states or market is None:
            return  # not followed, or the funding interval is not known yet
        sample = funding_sample(symbol, market, mark_row_from_event(ev), self.catalog.multiplier(symbol),
                                source="markPrice stream")
        if sample is not None:
            self.set_funding(symbol, sample)
