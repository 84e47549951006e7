"""Aster market-data feed: one combined-stream WebSocket, symbols subscribed on demand.

Protocol source: docs/exchanges/aster.md §4 (asterdex/api-docs "Websocket Market Streams",
"How to manage a local order book correctly").

Two book modes:

* ``depth_mode="partial"`` (default, the spec's Pattern A): ``<sym>@depth20@100ms`` plus
  ``<sym>@bookTicker``. Every ``depthUpdate`` frame on the partial stream is a **complete top-20
  snapshot** and replaces the book. Aster does not promise that ``U``/``u``/``pu`` of partial-depth
  frames chain from frame to frame (they refer to the underlying diff stream, whose updates
  between two 100 ms snapshots are not sent), so no gap rule is applied in this mode: a lost
  frame is healed by the next one. Crossed books are still detected (not served, resubscribed).
* ``depth_mode="diff"``: ``<sym>@depth@100ms`` plus ``<sym>@bookTicker`` and the documented
  sync algorithm: buffer events, fetch ``GET /fapi/v3/depth?limit=1000`` (``lastUpdateId`` =
  ``L``), drop buffered events with ``u < L``, apply the first event with ``U <= L <= u`` (or
  ``pu == L``, the event right after a snapshot taken on an event boundary), then require
  ``pu == previous u`` for every event. A break of that chain, the only continuity rule Aster
  promises for futures depth, is a gap: the book is marked not ready and a fresh snapshot is
  fetched (the subscription stays). A malformed frame in this mode also forces a fresh snapshot,
  since an update may have been lost.

Funding stream (``funding_stream=True``): ``<sym>@markPrice@1s`` (``markPriceUpdate``: ``r``
funding rate per interval, ``T`` next funding time ms, ``p`` mark, ``i`` index) is subscribed
next to the book streams. The interval is not in the event: the feed reads ``GET
/fapi/v3/fundingInfo`` once, when the first symbol is prepared, and :meth:`AsterMarketFeed.funding`
builds the sample with :func:`~.funding.funding_sample`, the REST adapter's own path.

``bookTicker`` frames give the BBO without a REST call (``feed.bbo(symbol)``); an empty side
(price 0) clears the stream BBO so the book's top is used. Frames are decoded with msgspec into
the structs of :mod:`.schemas`; malformed, unknown and error frames raise inside
:meth:`AsterMarketFeed.handle_frame`, which the base class logs (with the exchange) and drops.

Symbols are canonical (``"BTC"``); prices quote units, sizes base units of the exchange symbol.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import aiohttp
import msgspec

from ...book import SnapshotBook
from ...models import FundingRateSample
from ..feed import WsMarketFeed
from .funding import fetch_intervals, funding_sample
from .rest import AsterRest
from .schemas import (
    BookTickerEvent,
    Depth,
    DepthUpdate,
    MarkPriceUpdate,
    PartialDepthEnvelope,
    PartialDepthUpdate,
    StreamEnvelope,
    decode_levels,
    first_price,
)
from .symbols import get_dex_symbol_format, stream_name

log = logging.getLogger(__name__)

EXCHANGE = "aster"
LIVE_WS_URL = "wss://fstream.asterdex.com"
SNAPSHOT_LIMIT = 1000
_DEPTH_STREAM = re.compile(rb'"stream"\s*:\s*"([a-z0-9]+)@depth')
_decode_envelope = msgspec.json.Decoder(StreamEnvelope, strict=False).decode  # as schemas.decode, lax mode
_decode_partial_envelope = msgspec.json.Decoder(PartialDepthEnvelope, strict=False).decode  # levels left raw


@dataclass
class _DiffSync:
    """Diff-mode state of one symbol: ``synced`` once a snapshot and a bracketing event were
    applied; ``last_u`` is the ``u`` of the last applied event."""

    synced: bool = False
    last_u: int = 0
    buffer: list[DepthUpdate] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class AsterMarketFeed(WsMarketFeed):
    """Aster books and BBO for several symbols over ``<ws_url>/stream``.

    ``ws_url``: stream base (live ``wss://fstream.asterdex.com``; the emulator's ``ws_url``).
    ``rest_url``: REST base for diff-mode snapshots (None: live ``https://fapi.asterdex.com``).
    ``depth_mode``: ``"partial"`` or ``"diff"`` (see module doc). ``dex_symbol`` maps a canonical
    symbol to the exchange symbol (default ``<COIN>USDT``).
    """
    #: seconds of silence (no frame, no pong) after which the socket is down: see docs/RESILIENCE.md
    #: (Aster answers WebSocket pings (ccxt pings every 30 s); its own ping comes every 5 min, far too rarely to wait for)
    silence_timeout = 30.0

    def __init__(
        self,
        ws_url: str | None = None,
        rest_url: str | None = None,
        *,
        depth_mode: str = "partial",
        levels: int = 20,
        dex_symbol: Callable[[str], str] | None = None,
        session: aiohttp.ClientSession | None = None,
        **kwargs: Any,
    ) -> None:
        if depth_mode not in ("partial", "diff"):
            raise ValueError(f"depth_mode must be 'partial' or 'diff', got {depth_mode!r}")
        if levels not in (5, 10, 20):
            raise ValueError(f"levels must be 5, 10 or 20 (Aster partial depth), got {levels}")
        super().__init__(EXCHANGE, (ws_url or LIVE_WS_URL).rstrip("/"), session=session, **kwargs)
        self.rest = AsterRest(rest_url, session_of=self.http_session)
        self.depth_mode = depth_mode
        self._decode: Callable[[bytes], StreamEnvelope | PartialDepthEnvelope] = _decode_envelope
        if depth_mode == "partial":
            self.book_class = SnapshotBook  # each frame replaces the book: build it on read
            self._decode = _decode_partial_envelope  # ... and decode its levels on read too
        self.levels = levels
        self._dex_symbol = dex_symbol or get_dex_symbol_format
        self._canonical: dict[str, str] = {}  # "BTCUSDT" -> "BTC"
        self._diff: dict[str, _DiffSync] = {}
        self._request_id = 0
        self.marks: dict[str, MarkPriceUpdate] = {}
        self.intervals: dict[str, Decimal] | None = None  # fundingInfo, read once with funding_stream
        self.gaps = 0

    # -- hooks -----------------------------------------------------------------------------------
    def ws_url(self) -> str:
        return self.url + "/stream"

    def _streams(self, symbol: str) -> list[str]:
        dex = self._dex_symbol(symbol)
        self._canonical[dex] = symbol
        depth = f"depth{self.levels}@100ms" if self.depth_mode == "partial" else "depth@100ms"
        streams = [stream_name(dex, depth), stream_name(dex, "bookTicker")]
        if self.funding_stream:
            streams.append(stream_name(dex, "markPrice@1s"))
        return streams

    async def prepare(self, symbol: str) -> None:
        """As the base; with ``funding_stream`` the funding intervals are read first (once)."""
        if self.funding_stream and self.intervals is None:
            await self.load_intervals()
        await super().prepare(symbol)

    async def load_intervals(self) -> None:
        """Read ``GET /fapi/v3/fundingInfo`` (funding interval per symbol) for :meth:`funding`;
        a failure is logged and the read retried at the next :meth:`prepare`."""
        try:
            self.intervals = await fetch_intervals(self.rest)
        except Exception as exc:  # noqa: BLE001 - the book feed goes on; funding waits for the intervals
            log.warning("%s feed: funding intervals (GET /fapi/v3/fundingInfo) unavailable: %s", self.exchange, exc)

    def funding(self, symbol: str) -> FundingRateSample | None:
        """The last ``markPriceUpdate`` of ``symbol`` as a sample (see :func:`~.funding.funding_sample`);
        None before the first one or while the intervals are not read."""
        ev = self.marks.get(symbol)
        if ev is None or self.intervals is None:
            return None
        return funding_sample(symbol, ev.s, ev.r, ev.T, ev.p, ev.i, self.intervals, source="markPrice stream")

    def _frame(self, method: str, symbol: str) -> dict[str, Any]:
        self._request_id += 1
        return {"method": method, "params": self._streams(symbol), "id": self._request_id}

    def subscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        if self.depth_mode == "diff":
            self._reset_diff(symbol)
        return [self._frame("SUBSCRIBE", symbol)]

    def unsubscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [self._frame("UNSUBSCRIBE", symbol)]

    async def remove(self, symbol: str) -> None:
        await super().remove(symbol)
        self._canonical.pop(self._dex_symbol(symbol), None)
        st = self._diff.pop(symbol, None)
        if st is not None and st.task is not None:
            st.task.cancel()

    async def resync(self, symbol: str) -> None:
        """Partial mode: resubscribe (the first frame is a full snapshot). Diff mode: keep the
        subscription, buffer events and fetch a fresh REST snapshot."""
        if self.depth_mode == "partial":
            await super().resync(symbol)
        else:
            self._reset_diff(symbol)

    async def close(self) -> None:
        for st in self._diff.values():
            if st.task is not None:
                st.task.cancel()
        await super().close()

    # -- frames ----------------------------------------------------------------------------------
    def handle_frame(self, data: bytes) -> None:
        """Decode one frame (raw JSON bytes) and update the book / BBO; raises on malformed or
        error frames.

        Hot path. In partial mode a depth frame's level arrays are not parsed here: the frame is
        decoded with its ``b``/``a`` left as raw JSON and staged as the next snapshot of a
        :class:`~perpdex.book.SnapshotBook`, which decodes and builds it on the first read, so a
        frame replaced unread costs one envelope decode and two first-level reads
        (``benchmarks/bench_feeds.py``). A frame whose first bid is at or above its first ask is a
        crossed book (not served, resubscribed); the built book is checked again when it is served
        (:meth:`WsMarketFeed.book`), where levels that do not decode invalidate it and resync. In
        diff mode the levels are decoded straight to float ``(price, qty)`` pairs."""
        try:
            env = self._decode(data)
        except Exception:
            if self.depth_mode == "diff":
                m = _DEPTH_STREAM.search(data)
                sym = self._canonical.get(m.group(1).decode().upper()) if m else None
                if sym is not None:
                    self.invalidate(sym, "malformed depth frame")
            raise
        ev = env.data
        if ev is None:
            if env.error is not None or env.code is not None:
                raise ValueError(f"error frame: {env.error or {'code': env.code, 'msg': env.msg}}")
            if env.stream is not None:
                raise ValueError(f"frame for stream {env.stream!r} has no data")
            return  # subscription ack
        sym = self._canonical.get(ev.s)
        st = self._states.get(sym) if sym is not None else None
        if sym is None or st is None:
            return  # late frame for a symbol we no longer follow
        if type(ev) is PartialDepthUpdate:
            b, a = ev.b, ev.a
            best_bid, best_ask = first_price(b), first_price(a)  # ValueError: malformed, dropped
            if best_bid is not None and best_ask is not None and best_bid >= best_ask:
                self.invalidate(sym, "crossed book")  # best-first as sent; the built book is checked on read
                return
            st.book.stage_snapshot(b, a, ev.u, decode_levels)  # type: ignore[attr-defined]  # partial depth: book_class is SnapshotBook
            st.ready.set()
        elif type(ev) is DepthUpdate:
            self._on_diff(sym, ev)
        elif type(ev) is BookTickerEvent:
            if ev.b > 0 and ev.a > 0:
                self.set_bbo(sym, ev.b, ev.B, ev.a, ev.A)
            else:
                st.bbo = None
        else:
            self.marks[sym] = cast(MarkPriceUpdate, ev)  # the third and last kind of MarketEvent
            self.funding_frames += 1

    # -- diff depth ------------------------------------------------------------------------------
    def _reset_diff(self, symbol: str) -> None:
        st = self._diff.get(symbol)
        if st is not None and st.task is not None:
            st.task.cancel()
        self._diff[symbol] = _DiffSync()

    def _on_diff(self, sym: str, ev: DepthUpdate) -> None:
        st = self._diff.get(sym)
        if st is None:
            st = self._diff[sym] = _DiffSync()
        if not st.synced:
            st.buffer.append(ev)
            if st.task is None:
                st.task = asyncio.get_running_loop().create_task(self._snapshot(sym, st))
            return
        if ev.pu != st.last_u:
            self.gaps += 1
            st.synced = False
            self.invalidate(sym, f"sequence gap: pu={ev.pu} != previous u={st.last_u}")
            return
        self._apply(sym, st, ev)

    def _apply(self, sym: str, st: _DiffSync, ev: DepthUpdate) -> None:
        self.state(sym).book.apply_levels(ev.b, ev.a, ev.u)
        st.last_u = ev.u
        self.mark_ready(sym)

    async def _fetch_depth(self, sym: str) -> Depth:
        return await self.rest.get("/fapi/v3/depth", {"symbol": self._dex_symbol(sym), "limit": SNAPSHOT_LIMIT}, into=Depth)

    async def _snapshot(self, sym: str, st: _DiffSync) -> None:
        """Fetch a REST snapshot and join the buffered diff events onto it (retrying until one
        brackets ``lastUpdateId``)."""
        delay = 0.05
        while self._diff.get(sym) is st and sym in self.symbols:
            try:
                snap = await self._fetch_depth(sym)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retry with back-off
                log.warning("%s %s: depth snapshot failed: %s", self.exchange, sym, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            last = snap.lastUpdateId
            pending = [e for e in st.buffer if e.u >= last]
            while not pending:  # the snapshot is newer than every buffered event: wait for one
                await asyncio.sleep(0.02)
                if self._diff.get(sym) is not st:
                    return
                pending = [e for e in st.buffer if e.u >= last]
            first = pending[0]
            if not (first.U <= last <= first.u or first.pu == last):
                log.info("%s %s: snapshot %d older than buffered events (U=%d); refetching",
                         self.exchange, sym, last, first.U)
                st.buffer = pending
                continue
            book = self.state(sym).book
            book.apply_snapshot(snap.bids, snap.asks, last)
            st.last_u = last
            st.buffer = []
            st.synced = True
            st.task = None
            chain_ok = True
            for ev in pending:
                if ev is not first and ev.pu != st.last_u:
                    chain_ok = False
                    break
                self._apply(sym, st, ev)
            if not chain_ok:
                self.gaps += 1
                st.synced = False
                self.invalidate(sym, "sequence gap in buffered events")
                return
            log.info("%s %s: diff book synced at update id %d", self.exchange, sym, st.last_u)
            return
