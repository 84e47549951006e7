"""User-data streams: our own orders, fills, positions and liquidations over a private
WebSocket, on a socket of its own (market-data pause never touches it). A stream decodes and
reports; it never calls the exchange client: what it needs from the account (the catalog's
exchange symbol -> canonical mapping, an auth token / listenKey / signature) is handed to it as
callables when it is built, and the REST catch-up after reconnects belongs to the runtime
(:class:`perpdex.runtime.streams.StreamReconciler`, attached through :meth:`UserStream.on_connected`).

:class:`UserStream` is the plumbing every exchange shares; an exchange subclasses it and
implements two hooks:

* ``async open_socket(session) -> ws``: connect, authenticate (through the auth callable it was
  given) and subscribe; raise on failure (the stream retries with back-off);
* ``handle_frame(data: bytes) -> list[UserEvent]``: decode one frame (msgspec) into
  :mod:`perpdex.models` user events; raise on malformed input (logged with the exchange,
  counted in ``dropped``, the stream keeps going); put replies (pongs) in ``self.outbox``;
* optionally ``async keepalive()`` every ``keepalive_interval`` seconds while connected.

Lifecycle: :meth:`UserStream.start` runs one task that connects and reads. After every
(re)connect, once the subscriptions are acknowledged (or ``ack_timeout`` s passed), the
``on_connected`` callbacks run in a task of their own, in parallel with reading (the runtime's
REST reconciliation). A dropped socket is reopened after a back-off (``reconnect_delay``
doubling to ``max_reconnect_delay`` seconds, ±20 % jitter).

Counting: a fill is counted once per ``(exchange, trade_id)`` whether it comes from the stream,
a duplicated frame or REST (``ingest(ev, recovered=True)``); an order update that does not move
the order forward (same state, or an older one arriving late) is ignored; a position update
equal to the last is ignored.

Consumer API (what the executor wires; every method is exchange agnostic):

* ``track(symbol)`` / ``tracked``: the symbols whose fills and position the runtime catches up
  after reconnects (``ExchangeClient.prepare_order`` tracks every symbol it sends an order for;
  symbols seen on the stream are tracked too);
* ``fills_for(order_id) -> list[UserFill]``, ``filled_qty(order_id) -> Decimal``;
* ``order(order_id) -> UserOrderUpdate | None``, ``orders()``, ``position(symbol) ->
  UserPositionUpdate | None``, ``fills()``, ``liquidations() -> list[UserLiquidation]``;
* ``await wait_fill(order_id, timeout, qty=None) -> list[UserFill]``: the order's fills once
  their total reaches ``qty`` (any fill when None), or what there is after ``timeout`` s;
* ``await wait_order_final(order_id, timeout) -> UserOrderUpdate | None``;
* ``add_listener(fn) -> remove``: ``fn(event)`` called synchronously for every new event;
* ``queue() -> asyncio.Queue[UserEvent]`` / ``remove_queue(q)``: every new event, for a consumer task;
* ``on_connected(fn) -> remove``: ``await fn()`` after every (re)connect, once subscribed;
* ``await wait_connected(timeout) -> bool``, ``stats()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec

from ..aio import cancel_and_wait, jittered, wait_event
from ..errors import PerpdexError
from ..models import OrderStatus, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from .ws import StreamState, ws_payloads

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
Listener = Callable[[UserEvent], None]
#: ``await fn()`` after every (re)connect once subscribed (see :meth:`UserStream.on_connected`)
ConnectedCallback = Callable[[], Awaitable[None]]
#: exchange symbol / market id -> canonical symbol; raises (``KeyError``/``ValueError``) when unknown
SymbolOf = Callable[[str], str]


class StreamReset(ConnectionError):
    """Raised by ``handle_frame`` when the frame means the socket must be reopened (an expired
    listenKey...): the stream closes it and reconnects (then runs its ``on_connected`` callbacks)."""


def as_decimal(x: Any) -> Decimal:
    """``Decimal`` of a wire number or numeric string (``""``/None -> 0)."""
    if x is None or x == "":
        return Decimal(0)
    return x if isinstance(x, Decimal) else Decimal(str(x))


def optional_price(x: Any) -> Decimal | None:
    """A price that the exchange may leave empty or at 0 (liquidation price, avg price): None then."""
    d = as_decimal(x)
    return d if d > 0 else None


def order_status(filled: Decimal, *, open_: bool, canceled: bool = False, rejected: bool = False) -> OrderStatus:
    """Our status from an exchange's facts: still ``open_`` (partially filled when ``filled``
    > 0), else rejected / canceled (even if partially filled) / filled."""
    if open_:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    if rejected:
        return OrderStatus.REJECTED
    return OrderStatus.CANCELED if canceled else OrderStatus.FILLED


class UserStream(StreamState):
    """One exchange's user-data stream (see module doc). ``symbol_of`` maps an exchange symbol /
    market id of a frame to the canonical symbol (the client's catalog, read at each call so a
    reloaded catalog is seen). Subclasses set ``exchange`` and implement the hooks; they take
    their URL and auth callables in their own constructors.

    ``silence_timeout`` seconds (None: the exchange's default, :attr:`silence_timeout`): a
    connected socket with no frame and no pong for longer is down: it is reopened (and the
    runtime's ``on_connected`` REST catch-up runs again), and the state listeners hear it
    (:class:`~perpdex.exchanges.ws.StreamState`)."""

    exchange: str = ""
    keepalive_interval: float | None = None  # seconds between keepalive() calls; None: never
    #: subscribe acknowledgements to await (``handle_frame`` calls :meth:`acknowledged`) before the
    #: stream counts as subscribed and runs its ``on_connected`` callbacks; 0 where the exchange sends none
    subscription_acks: int = 0
    ack_timeout: float = 10.0

    def __init__(
        self,
        symbol_of: SymbolOf | None = None,
        *,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
        silence_timeout: float | None = None,
    ) -> None:
        self._init_state(silence_timeout)
        self._symbol_of = symbol_of
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.outbox: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected_tasks: set[asyncio.Task[None]] = set()
        self._on_connected: list[ConnectedCallback] = []
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._acks = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._listeners: list[Listener] = []
        self._queues: list[asyncio.Queue[UserEvent]] = []
        self._tracked: set[str] = set()
        self._fills: dict[str, UserFill] = {}  # trade id -> fill
        self._fills_by_order: dict[str, list[UserFill]] = {}
        self._orders: dict[str, UserOrderUpdate] = {}
        self._positions: dict[str, UserPositionUpdate] = {}
        self._liquidation_keys: set[tuple[Any, ...]] = set()
        self._liquidations: list[UserLiquidation] = []
        self.last_error: str | None = None
        self.messages = 0
        self.bytes = 0
        self.dropped = 0
        self.duplicates = 0
        self.connects = 0
        self.reconnects = 0
        self.last_frame_at: float | None = None  # monotonic time of the last frame received
        self.reconciliations = 0  # REST catch-ups reported by the runtime (record_reconciliation)
        self.reconcile_errors = 0
        self.recovered_fills = 0  # fills first learned from REST (ingest(..., recovered=True))

    # -- hooks ------------------------------------------------------------------------------------
    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        """Connect, authenticate and subscribe; return the open socket."""
        raise NotImplementedError

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        """Decode one frame into user events; raise on malformed input."""
        raise NotImplementedError

    async def keepalive(self) -> None:
        """Called every ``keepalive_interval`` s while connected (listenKey refresh...)."""

    # -- helpers for subclasses ---------------------------------------------------------------------
    def canonical(self, contract_id: str) -> str:
        """Exchange symbol / market id -> canonical symbol through ``symbol_of``; raises
        ``ValueError`` naming the symbol when the catalog does not list it."""
        try:
            if self._symbol_of is None:
                raise KeyError(contract_id)
            return self._symbol_of(contract_id)
        except (LookupError, ValueError):
            raise ValueError(f"[{self.exchange}] unknown market {contract_id!r} in a user-stream frame") from None

    def acknowledged(self) -> None:
        """Called by ``handle_frame`` for each subscribe acknowledgement of the current socket."""
        self._acks += 1
        if self._acks >= self.subscription_acks:
            self._subscribed.set()

    async def connect_ws(self, session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
        """Open ``url`` with the silence heartbeat (see :class:`~perpdex.exchanges.ws.StreamState`);
        a handshake slower than the silence bound raises ``asyncio.TimeoutError``."""
        return await asyncio.wait_for(session.ws_connect(url, heartbeat=self.heartbeat, max_msg_size=0),
                                      self.silence_timeout)

    async def send_json(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_str(_encode(frame).decode())

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start the stream task (idempotent); returns at once (see :meth:`wait_connected`)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.exchange}-user-stream")

    async def stop(self) -> None:
        """Close the socket and stop the task; what was received stays queryable."""
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await cancel_and_wait(*self._connected_tasks, self._task)
        self._connected_tasks.clear()
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed (acknowledged where the exchange acknowledges)
        within ``timeout`` s."""
        return await wait_event(self._subscribed, timeout)

    def on_connected(self, fn: ConnectedCallback) -> Callable[[], None]:
        """Run ``await fn()`` after every (re)connect, once the subscriptions are acknowledged (or
        ``ack_timeout`` s passed: logged), so that what happens after ``fn`` reads REST reaches the
        socket. Callbacks run one after the other in a task of the stream, in parallel with
        reading; the task is cancelled when the socket is reopened or the stream stops; an error
        is logged and never stops the stream. If the stream is connected now, ``fn`` also runs
        for the current connection (once subscribed). Returns a remover."""
        self._on_connected.append(fn)
        if self._connected.is_set():
            self._spawn_connected([fn])
        return lambda: self._on_connected.remove(fn) if fn in self._on_connected else None

    def track(self, symbol: str) -> None:
        """Follow ``symbol``: the runtime catches its fills and position up after every (re)connect."""
        self._tracked.add(symbol)

    @property
    def tracked(self) -> set[str]:
        return set(self._tracked)

    # -- queries ------------------------------------------------------------------------------------
    def fills_for(self, order_id: str) -> list[UserFill]:
        """Fills of ``order_id`` counted so far, in arrival order (each trade id once)."""
        return list(self._fills_by_order.get(str(order_id), ()))

    def filled_qty(self, order_id: str) -> Decimal:
        """Sum of the fill quantities of ``order_id``, base units."""
        return sum((f.qty for f in self._fills_by_order.get(str(order_id), ())), Decimal(0))

    def fills(self) -> list[UserFill]:
        """Every fill counted so far, in arrival order."""
        return list(self._fills.values())

    def liquidations(self) -> list[UserLiquidation]:
        """Every liquidation / ADL of our positions reported so far, in arrival order."""
        return list(self._liquidations)

    def order(self, order_id: str) -> UserOrderUpdate | None:
        """The last state of ``order_id`` (None if never seen)."""
        return self._orders.get(str(order_id))

    def orders(self) -> list[UserOrderUpdate]:
        """The last state of every order seen, in first-seen order."""
        return list(self._orders.values())

    def position(self, symbol: str) -> UserPositionUpdate | None:
        return self._positions.get(symbol)

    async def _wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            left = end - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return pred()
        return True

    async def wait_fill(self, order_id: str, timeout: float, qty: Decimal | None = None) -> list[UserFill]:
        """The fills of ``order_id`` once their total reaches ``qty`` base units (any fill when
        None), or whatever has arrived when ``timeout`` s pass (possibly ``[]``)."""
        oid = str(order_id)

        def done() -> bool:
            if qty is None:
                return bool(self._fills_by_order.get(oid))
            return self.filled_qty(oid) >= qty

        await self._wait(done, timeout)
        return self.fills_for(oid)

    async def wait_order_final(self, order_id: str, timeout: float) -> UserOrderUpdate | None:
        """The order's state once final (filled, canceled, rejected), or its last known state
        (None if never seen) after ``timeout`` s."""
        oid = str(order_id)
        await self._wait(lambda: (o := self._orders.get(oid)) is not None and o.status.is_final, timeout)
        return self._orders.get(oid)

    def add_listener(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(event)`` for every new (deduplicated) event; returns a remover. ``fn`` runs
        in the stream task: keep it short, never block."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def queue(self, maxsize: int = 0) -> asyncio.Queue[UserEvent]:
        """A queue receiving every new event from now on (a full queue drops, logged)."""
        q: asyncio.Queue[UserEvent] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    def remove_queue(self, q: asyncio.Queue[UserEvent]) -> None:
        if q in self._queues:
            self._queues.remove(q)

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: state (connected | connecting | stopped), frames (messages),
        bytes, dropped frames, duplicates ignored, connects, reconnects, reconciliations (and
        errors), fills counted, fills recovered from REST, seconds since the last frame (None
        before the first), silent drops (sockets reopened after ``silence_timeout`` s without a
        frame or pong) and the last down reason."""
        state = "stopped" if self._task is None else "connected" if self._connected.is_set() else "connecting"
        return {"exchange": self.exchange, "state": state, "messages": self.messages, "bytes": self.bytes,
                "dropped": self.dropped, "duplicates": self.duplicates, "connects": self.connects,
                "reconnects": self.reconnects, "reconciliations": self.reconciliations,
                "reconcile_errors": self.reconcile_errors, "fills": len(self._fills),
                "recovered_fills": self.recovered_fills, "silent_drops": self.silent_drops,
                "down_reason": self.down_reason,
                "last_frame_age_s": (round(time.monotonic() - self.last_frame_at, 3)
                                     if self.last_frame_at is not None else None)}

    # -- ingestion ----------------------------------------------------------------------------------
    def ingest(self, ev: UserEvent, *, recovered: bool = False) -> bool:
        """Record ``ev`` unless it is already known (see module doc); True when it was new.
        ``recovered``: ``ev`` comes from a REST catch-up, not from the socket: a new fill counts
        in ``recovered_fills``, a known event is not counted as a duplicate frame."""
        if isinstance(ev, UserFill):
            new = self._ingest_fill(ev)
            if new and recovered:
                self.recovered_fills += 1
        elif isinstance(ev, UserOrderUpdate):
            new = self._ingest_order(ev)
        elif isinstance(ev, UserPositionUpdate):
            new = self._positions.get(ev.symbol) != ev
            if new:
                self._positions[ev.symbol] = ev
        else:
            key = (ev.symbol, ev.trade_id) if ev.trade_id else (ev.symbol, ev.order_id or "", ev.ts)
            new = key not in self._liquidation_keys
            if new:
                self._liquidation_keys.add(key)
                self._liquidations.append(ev)
        if not new:
            if not recovered:
                self.duplicates += 1
            return False
        self._notify(ev)
        return True

    def record_reconciliation(self, error: BaseException | None = None) -> None:
        """Count one REST catch-up of this stream (by the runtime), failed with ``error`` or not
        (``reconciliations``, ``reconcile_errors`` in :meth:`stats`)."""
        self.reconciliations += 1
        if error is not None:
            self.reconcile_errors += 1
            self.last_error = f"reconciliation: {error}"

    def _ingest_fill(self, f: UserFill) -> bool:
        if f.trade_id in self._fills:
            return False
        self._fills[f.trade_id] = f
        self._fills_by_order.setdefault(f.order_id, []).append(f)
        self._tracked.add(f.symbol)
        return True

    def _ingest_order(self, o: UserOrderUpdate) -> bool:
        cur = self._orders.get(o.order_id)
        if cur is not None:
            if (cur.status.is_final and not o.status.is_final) or o.filled < cur.filled:
                return False
            if (cur.status, cur.filled, cur.remaining, cur.avg_price) == (o.status, o.filled, o.remaining, o.avg_price):
                return False
        self._orders[o.order_id] = o
        self._tracked.add(o.symbol)
        return True

    def _notify(self, ev: UserEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - a broken consumer must not break the stream
                log.exception("%s user stream: listener failed", self.exchange)
        for q in list(self._queues):
            try:
                q.put_nowait(ev)
            except asyncio.QueueFull:
                log.warning("%s user stream: consumer queue full, event dropped", self.exchange)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- internals ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.reconnect_delay
        if self._session is None:
            self._session = aiohttp.ClientSession()
        while not self._closing:
            keep: asyncio.Task[None] | None = None
            try:
                self._acks = 0
                ws = await self.open_socket(self._session)
                self._ws = ws
                self.connects += 1
                if self.connects > 1:
                    self.reconnects += 1
                self._connected.set()
                if self.subscription_acks <= self._acks:
                    self._subscribed.set()
                delay = self.reconnect_delay
                self._report_state(True, "connected")
                for t in self._connected_tasks:  # a catch-up of the previous socket is outdated
                    t.cancel()
                if self._on_connected:
                    self._spawn_connected(list(self._on_connected))
                if self.keepalive_interval:
                    keep = asyncio.get_running_loop().create_task(self._keepalive_loop())
                await self._read(ws)
                if not self._closing:
                    reason = self._end_reason(ws)
                    self.last_error = reason
                    log.warning("%s user stream: socket down: %s; reconnecting", self.exchange, reason)
                    self._report_state(False, reason)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, ConnectionError, OSError, PerpdexError) as exc:
                reason = (f"no answer within {self.silence_timeout:g}s" if isinstance(exc, asyncio.TimeoutError)
                          and not str(exc) else str(exc) or type(exc).__name__)
                self.last_error = reason
                log.warning("%s user stream: connection error: %s", self.exchange, reason)
                if not self._closing:
                    self._report_state(False, reason)
            except Exception as exc:  # noqa: BLE001 - never let the stream die; log the bug, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s user stream: unexpected error", self.exchange)
                if not self._closing:
                    self._report_state(False, self.last_error)
            finally:
                self._connected.clear()
                self._subscribed.clear()
                if keep is not None:
                    keep.cancel()
                if self._ws is not None and not self._ws.closed:
                    await self._ws.close()
                self._ws = None
            if self._closing:
                break
            await asyncio.sleep(jittered(delay))
            delay = min(max(delay, self.reconnect_delay) * 2, self.max_reconnect_delay)

    def _spawn_connected(self, fns: list[ConnectedCallback]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_connected(fns), name=f"{self.exchange}-user-stream-connected")
        self._connected_tasks.add(task)
        task.add_done_callback(self._connected_tasks.discard)

    async def _run_connected(self, fns: list[ConnectedCallback]) -> None:
        # what is sent after the callbacks read REST must reach us over the socket: subscribed first
        if not await wait_event(self._subscribed, self.ack_timeout):
            log.warning("%s user stream: subscriptions not acknowledged within %.0fs; running on-connect "
                        "callbacks anyway", self.exchange, self.ack_timeout)
        for fn in fns:
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a consumer's bug never stops the stream
                log.exception("%s user stream: on-connect callback failed", self.exchange)

    async def _keepalive_loop(self) -> None:
        assert self.keepalive_interval
        while True:
            await asyncio.sleep(self.keepalive_interval)
            try:
                await self.keepalive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; the next one retries
                log.warning("%s user stream: keepalive failed: %s", self.exchange, exc)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for data in ws_payloads(ws):
            self.messages += 1
            self.last_frame_at = time.monotonic()
            self.bytes += len(data)
            try:
                events = self.handle_frame(data)
            except StreamReset:
                raise
            except Exception as exc:  # noqa: BLE001 - bad input never kills the stream
                self.dropped += 1
                log.warning("%s user stream: dropped frame (%s: %s): %.200r", self.exchange,
                            type(exc).__name__, exc, data)
                events = []
            for ev in events:
                self.ingest(ev)
            while self.outbox:
                await self.send_json(ws, self.outbox.pop(0))


__all__ = ["StreamReset", "UserStream", "UserEvent", "UserFill", "UserLiquidation", "UserOrderUpdate", "UserPositionUpdate",
           "as_decimal", "optional_price", "order_status"]
