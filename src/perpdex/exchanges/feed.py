"""Market-data feed plumbing shared by every exchange: per-symbol books, readiness events,
staleness, and one reconnecting WebSocket connection.

An exchange feed subclasses :class:`WsMarketFeed` and implements four hooks:

* ``subscribe_frames(symbol)`` / ``unsubscribe_frames(symbol)``: the JSON frames to send;
* ``handle_frame(data: bytes)``: decode one frame (msgspec), update ``self.books[symbol]`` and call
  :meth:`mark_ready` / :meth:`invalidate`; raise on malformed input (the base logs it with the
  exchange, counts it and drops it);
* optionally ``on_connected()`` and ``ws_url()``.

Readiness is an event: ``await feed.wait_ready(symbol, timeout)``. A book is served only while it
is ready, not crossed, and updated within ``stale_after`` seconds (else :class:`StaleMarketData`).

Public funding streams (``funding_stream=True``): the feed also subscribes, per symbol, the
exchange's public funding / mark-price channel on the same socket and keeps the last sample it
decoded (:meth:`WsMarketFeed.funding`), normalized by the exchange's funding module (the code
the REST funding adapter uses). Frames of those channels are decoded whenever they arrive, so a
replayed recording that holds them yields the samples too. Off by default: the trading runtime
reads funding over REST; ``perpdex record`` turns it on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec

from ..aio import cancel_and_wait, jittered, wait_event
from ..book import BookDecodeError, OrderBook, to_decimal
from ..errors import StaleMarketData
from ..models import BBO, FundingRateSample
from .ws import StreamState, ws_payloads

log = logging.getLogger(__name__)

_json_encode = msgspec.json.Encoder().encode


class MarketFeed:
    """Interface: per-symbol books and BBO for one exchange, several symbols at once."""

    exchange: str = ""
    stale_after: float  # seconds without an update after which a book is not served

    async def prepare(self, symbol: str) -> None:  # pragma: no cover - interface
        """Start streaming ``symbol`` (canonical) if not already; returns without waiting."""
        raise NotImplementedError

    async def wait_ready(self, symbol: str, timeout: float) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def is_ready(self, symbol: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def book(self, symbol: str) -> OrderBook:  # pragma: no cover - interface
        raise NotImplementedError

    def bbo(self, symbol: str) -> BBO:  # pragma: no cover - interface
        """Best bid/ask (quote units); raises :class:`StaleMarketData` when not served."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:  # pragma: no cover - interface
        """Counters for monitoring (see :meth:`WsMarketFeed.stats`)."""
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def funding_samples(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> the last sample of the public funding stream ({} without one)."""
        return {}

    async def pause(self) -> None:  # pragma: no cover - interface
        """Stop market-data traffic; symbols are remembered, books stop being served."""
        raise NotImplementedError

    async def resume(self, symbol: str | None = None) -> None:  # pragma: no cover - interface
        """Restart market data for every remembered symbol (and ``symbol``)."""
        raise NotImplementedError


class SymbolState:
    """What a feed holds for one symbol: its :class:`OrderBook`, the event set while the book is
    served (:meth:`WsMarketFeed.mark_ready`), and the last BBO frame (bid, bid size, ask, ask
    size, receive time) where the exchange streams one."""

    __slots__ = ("book", "ready", "bbo")

    def __init__(self, symbol: str, book_class: type[OrderBook] = OrderBook) -> None:
        self.book = book_class(symbol)
        self.ready = asyncio.Event()
        self.bbo: tuple[float, float, float, float, float] | None = None  # bid, bidsz, ask, asksz, ts


class WsMarketFeed(MarketFeed, StreamState):
    """One WebSocket connection carrying every subscribed symbol's book (and BBO) stream.

    ``stale_after`` seconds: a book with no update for longer is not served.
    ``reconnect_delay`` seconds: first back-off after a dropped socket (doubles up to 5 s, with
    ±20 % jitter so that many clients do not reconnect in lockstep).
    ``max_connection_age`` seconds: rotate the connection before the exchange's lifetime limit
    (None: never); every symbol is resubscribed on the new socket.
    ``book_class``: the book type per symbol (:class:`~perpdex.book.SnapshotBook` for feeds whose
    messages are whole snapshots).
    ``silence_timeout`` seconds (None: the exchange's default, :attr:`silence_timeout`): a
    connected socket with no frame and no pong for longer is down: its books are dropped (not
    served), it is reopened, and the state listeners hear it (:class:`~perpdex.exchanges.ws.StreamState`).
    ``funding_stream``: also subscribe the exchange's public funding stream (see module doc).
    """

    book_class: type[OrderBook] = OrderBook

    def __init__(
        self,
        exchange: str,
        ws_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        stale_after: float = 30.0,
        reconnect_delay: float = 0.2,
        silence_timeout: float | None = None,
        max_connection_age: float | None = None,
        funding_stream: bool = False,
    ) -> None:
        self.exchange = exchange
        self._init_state(silence_timeout)
        self.funding_stream = funding_stream
        self._funding: dict[str, FundingRateSample] = {}
        self.funding_frames = 0  # funding-stream frames decoded
        self.max_connection_age = max_connection_age
        self.url = ws_url
        self.stale_after = stale_after
        self.reconnect_delay = reconnect_delay
        self._session = session
        self._own_session = session is None
        self._states: dict[str, SymbolState] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self.paused = False
        self.frames_received = 0
        self.bytes_received = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.last_frame_at: float | None = None  # monotonic time of the last frame received
        self.rotations = 0
        self.resyncs = 0

    # -- hooks for subclasses -------------------------------------------------------------------
    def subscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def unsubscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return []

    def handle_frame(self, data: bytes) -> None:
        raise NotImplementedError

    async def on_connected(self) -> None:
        """Called after each (re)connect, before symbols are resubscribed."""

    # -- public API ------------------------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self._states)

    def state(self, symbol: str) -> SymbolState:
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = SymbolState(symbol, self.book_class)
        return st

    async def prepare(self, symbol: str) -> None:
        """Subscribe ``symbol`` on demand (idempotent). Opens the connection on first use and
        resumes a paused feed. Returns without waiting for the book (see :meth:`wait_ready`)."""
        new = symbol not in self._states
        self.state(symbol)
        if self._task is None:
            await self.resume()  # _run subscribes every known symbol once connected
            return
        if new and self._ws is not None and not self._ws.closed and self._connected.is_set():
            await self._send_all(self.subscribe_frames(symbol))

    async def pause(self) -> None:
        """Stop market-data traffic: the socket is closed (no frames, no pings), books are no
        longer served, the symbols are remembered for :meth:`resume`. Idempotent."""
        self.paused = True
        if self._task is None:
            return
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await cancel_and_wait(self._task)
        self._task = None
        await self.on_paused()
        log.info("%s feed: paused (%d symbols kept)", self.exchange, len(self._states))

    async def resume(self, symbol: str | None = None) -> None:
        """Reconnect and resubscribe every remembered symbol (plus ``symbol``); books become
        ready again from fresh snapshots. Await :meth:`wait_ready` for readiness."""
        if symbol is not None:
            self.state(symbol)
        self.paused = False
        if self._task is None and self._states:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"{self.exchange}-feed")

    async def on_paused(self) -> None:
        """Hook: drop per-connection work (snapshot fetches...) when the feed pauses."""

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: state, frames, bytes, drops, reconnects, rotations, resyncs,
        seconds since the last frame (None before the first), silent drops (sockets reopened after
        ``silence_timeout`` s without a frame or pong), the last down reason, and per symbol whether
        the book is served and its age in seconds."""
        now = time.monotonic()
        state = "paused" if self.paused else "connected" if self._connected.is_set() else "connecting"
        return {
            "exchange": self.exchange, "state": state, "frames": self.frames_received,
            "bytes": self.bytes_received, "dropped": self.frames_dropped, "reconnects": self.reconnects,
            "rotations": self.rotations, "resyncs": self.resyncs, "silent_drops": self.silent_drops,
            "down_reason": self.down_reason,
            "last_frame_age_s": round(now - self.last_frame_at, 3) if self.last_frame_at is not None else None,
            "symbols": {sym: {"ready": self.is_ready(sym),
                              "age_s": round(now - st.book.updated_at, 3) if st.book.updated_at else None}
                        for sym, st in self._states.items()},
        }

    def use_session(self, session: Any) -> None:
        """Carry this feed's WebSocket and REST traffic over ``session``: an
        ``aiohttp.ClientSession`` or a drop-in with ``ws_connect``/``get``/``close`` (the recording
        tap, the replay transport of :mod:`perpdex.recording`). The caller keeps ownership (the
        feed does not close it). Raises RuntimeError once the feed has started."""
        if self._task is not None:
            raise RuntimeError(f"[{self.exchange}] use_session() must be called before the feed starts")
        self._session = session
        self._own_session = False

    def http_session(self) -> Any:
        """The session this feed's WebSocket and its REST reads (snapshots, catalog) share: the
        one given (:meth:`use_session`) or one created on first use, closed by :meth:`close`."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def prepare_many(self, symbols: list[str]) -> None:
        for s in symbols:
            await self.prepare(s)

    async def remove(self, symbol: str) -> None:
        """Stop streaming ``symbol`` and forget its book."""
        st = self._states.pop(symbol, None)
        self._funding.pop(symbol, None)
        if st is not None and self._ws is not None and not self._ws.closed:
            try:
                await self._send_all(self.unsubscribe_frames(symbol))
            except (ConnectionError, aiohttp.ClientError, RuntimeError):
                pass

    async def wait_ready(self, symbol: str, timeout: float) -> bool:
        """Wait until ``symbol``'s book is ready; True if it became ready within ``timeout`` s."""
        if symbol not in self._states or self._task is None:
            await self.prepare(symbol)
        return await wait_event(self._states[symbol].ready, timeout)

    def is_ready(self, symbol: str) -> bool:
        st = self._states.get(symbol)
        if st is None or not st.ready.is_set():
            return False
        return (time.monotonic() - st.book.updated_at) <= self.stale_after

    def book(self, symbol: str) -> OrderBook:
        """The live book; raises :class:`StaleMarketData` if not ready, stale or crossed."""
        st = self._states.get(symbol)
        if st is None or not st.ready.is_set():
            raise StaleMarketData(f"[{self.exchange}] {symbol}: book not ready")
        age = time.monotonic() - st.book.updated_at
        if age > self.stale_after:
            raise StaleMarketData(f"[{self.exchange}] {symbol}: book stale ({age:.1f}s > {self.stale_after}s)")
        try:
            crossed = st.book.is_crossed()
        except BookDecodeError as exc:  # a lazily staged snapshot that does not decode
            log.warning("[%s] %s", self.exchange, exc)
            self.invalidate(symbol, "malformed depth frame")
            raise StaleMarketData(f"[{self.exchange}] {symbol}: malformed depth frame") from exc
        if crossed:
            self.invalidate(symbol, "crossed book")
            raise StaleMarketData(f"[{self.exchange}] {symbol}: book crossed")
        return st.book

    def funding(self, symbol: str) -> FundingRateSample | None:
        """The last funding sample of ``symbol`` (canonical) decoded from the exchange's public
        funding stream: ``raw_rate`` fraction per funding interval, ``interval_hours``,
        ``normalized_rate`` per 8 h, ``mark_price`` USD where the stream carries one; None before
        the first frame (or while the facts it needs, e.g. the funding interval, are unknown).
        Not subject to the book's staleness rule."""
        return self._funding.get(symbol)

    def funding_samples(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> :meth:`funding` for every followed symbol that has one."""
        out: dict[str, FundingRateSample] = {}
        for sym in self._states:
            f = self.funding(sym)
            if f is not None:
                out[sym] = f
        return out

    def set_funding(self, symbol: str, sample: FundingRateSample) -> None:
        """Keep ``sample`` as ``symbol``'s latest (for subclasses' frame handlers)."""
        self._funding[symbol] = sample
        self.funding_frames += 1

    def bbo(self, symbol: str) -> BBO:
        """Best bid/ask from the BBO stream when it is fresher than the book, else the book."""
        book = self.book(symbol)
        st = self._states[symbol]
        if st.bbo is not None and st.bbo[4] >= book.updated_at and st.bbo[0] < st.bbo[2]:
            b, bs, a, as_, ts = st.bbo
            return BBO(to_decimal(b), to_decimal(a), to_decimal(bs), to_decimal(as_), ts)
        bb, ba = book.best_bid(), book.best_ask()
        if bb is None or ba is None:
            raise StaleMarketData(f"[{self.exchange}] {symbol}: one side of the book is empty")
        return BBO(to_decimal(bb[0]), to_decimal(ba[0]), to_decimal(bb[1]), to_decimal(ba[1]), book.updated_at)

    def best_bid(self, symbol: str) -> Decimal:
        return self.bbo(symbol).bid

    def best_ask(self, symbol: str) -> Decimal:
        return self.bbo(symbol).ask

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await cancel_and_wait(self._task)
        self._task = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- helpers for subclasses ------------------------------------------------------------------
    def mark_ready(self, symbol: str) -> None:
        st = self._states.get(symbol)
        if st is None:
            return
        if st.book.is_crossed():
            self.invalidate(symbol, "crossed book")
            return
        st.ready.set()

    def set_bbo(self, symbol: str, bid: float, bid_size: float, ask: float, ask_size: float) -> None:
        st = self._states.get(symbol)
        if st is not None:
            st.bbo = (bid, bid_size, ask, ask_size, time.monotonic())

    def invalidate(self, symbol: str, reason: str) -> None:
        """Mark ``symbol``'s book not ready and start a resync (see :meth:`resync`)."""
        st = self._states.get(symbol)
        if st is None:
            return
        log.warning("%s %s: book invalidated (%s); resyncing", self.exchange, symbol, reason)
        self.resyncs += 1
        st.ready.clear()
        st.book.clear()
        st.bbo = None
        asyncio.get_running_loop().create_task(self._resync_safe(symbol))

    async def resync(self, symbol: str) -> None:
        """Default resync: unsubscribe then subscribe again (the server sends a fresh snapshot)."""
        await self._send_all(self.unsubscribe_frames(symbol))
        await self._send_all(self.subscribe_frames(symbol))

    async def send_json(self, frame: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise ConnectionError(f"[{self.exchange}] websocket not connected")
        await self._ws.send_str(_json_encode(frame).decode())

    def ws_url(self) -> str:
        return self.url

    # -- internals -------------------------------------------------------------------------------
    async def _resync_safe(self, symbol: str) -> None:
        try:
            if self._ws is not None and not self._ws.closed:
                await self.resync(symbol)
        except Exception as exc:  # noqa: BLE001 - the reconnect loop will resubscribe anyway
            log.warning("%s %s: resync failed: %s", self.exchange, symbol, exc)

    async def _send_all(self, frames: list[dict[str, Any]]) -> None:
        for f in frames:
            await self.send_json(f)

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            reason = "connection error"
            try:
                async with self._open_ws(self.http_session(), self.ws_url()) as ws:
                    self._ws = ws
                    self._connected.set()
                    delay = self.reconnect_delay
                    self._report_state(True, "connected")
                    await self.on_connected()
                    for sym in list(self._states):
                        await self._send_all(self.subscribe_frames(sym))
                    rotated = False
                    if self.max_connection_age is None:
                        await self._read(ws)
                    else:
                        try:
                            await asyncio.wait_for(self._read(ws), self.max_connection_age)
                        except TimeoutError:
                            rotated = True
                            self.rotations += 1
                            delay = 0.0
                            log.info("%s feed: rotating the connection after %.0fs", self.exchange,
                                     self.max_connection_age)
                    if not rotated and not self._closing:
                        reason = self._end_reason(ws)
                        log.warning("%s feed: socket down: %s; reconnecting", self.exchange, reason)
                        self._report_state(False, reason)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, ConnectionError, OSError) as exc:
                reason = (f"no answer within {self.silence_timeout:g}s" if isinstance(exc, asyncio.TimeoutError)
                          and not str(exc) else f"{type(exc).__name__}: {exc}")
                log.warning("%s feed: connection error: %s", self.exchange, reason)
                if not self._closing:
                    self._report_state(False, reason)
            finally:
                self._connected.clear()
                self._ws = None
                for st in self._states.values():
                    st.ready.clear()
                    st.book.clear()
                    st.bbo = None
            if self._closing:
                break
            self.reconnects += 1
            await asyncio.sleep(jittered(delay))
            delay = min(max(delay, self.reconnect_delay) * 2, 5.0)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for data in ws_payloads(ws):
            self.frames_received += 1
            self.last_frame_at = time.monotonic()
            self.bytes_received += len(data)
            try:
                self.handle_frame(data)
            except Exception as exc:  # noqa: BLE001 - bad input never kills the feed
                self.frames_dropped += 1
                log.warning("%s feed: dropped malformed frame (%s: %s): %.200r",
                            self.exchange, type(exc).__name__, exc, data)
