"""User-data streams: our own orders, fills, positions and liquidations over a private
WebSocket, on a socket of its own (market-data pause never touches it).

:class:`UserStream` is the plumbing every exchange shares; an exchange subclasses it and
implements four hooks:

* ``async open_socket(session) -> ws``: connect, authenticate (listenKey, auth token, signed
  subscribe, JWT...) and subscribe; raise on failure (the stream retries with back-off);
* ``handle_frame(data: bytes) -> list[UserEvent]``: decode one frame (msgspec) into
  :mod:`perpdex.models` user events; raise on malformed input (logged with the exchange,
  counted in ``dropped``, the stream keeps going); put replies (pongs) in ``self.outbox``;
* ``async fetch_fills(symbol) -> list[UserFill]``: recent fills over REST, for reconciliation;
* optionally ``async keepalive()`` every ``keepalive_interval`` seconds while connected.

Lifecycle: :meth:`UserStream.start` runs one task that connects, reads, and after every
(re)connect reconciles with REST in parallel with reading: recent fills of every tracked symbol
(so fills whose frames were lost while the socket was down are recovered), the state of every
order not yet final (``client.get_order_info``) and the positions of tracked symbols
(``client.get_position_snapshot``). A dropped socket is reopened after a back-off (``reconnect_delay``
doubling to ``max_reconnect_delay`` seconds, ±20 % jitter).

Counting: a fill is counted once per ``(exchange, trade_id)`` whether it comes from the stream,
a duplicated frame or REST; an order update that does not move the order forward (same state,
or an older one arriving late) is ignored; a position update equal to the last is ignored.

Consumer API (what the executor wires; every method is exchange agnostic):

* ``track(symbol)``: reconcile this symbol's fills after reconnects (``ExchangeClient.prepare_order``
  tracks every symbol it sends an order for; symbols seen on the stream are tracked too);
* ``fills_for(order_id) -> list[UserFill]``, ``filled_qty(order_id) -> Decimal``;
* ``order(order_id) -> UserOrderUpdate | None``, ``position(symbol) -> UserPositionUpdate | None``,
  ``fills()``, ``liquidations() -> list[UserLiquidation]``;
* ``await wait_fill(order_id, timeout, qty=None) -> list[UserFill]``: the order's fills once
  their total reaches ``qty`` (any fill when None), or what there is after ``timeout`` s;
* ``await wait_order_final(order_id, timeout) -> UserOrderUpdate | None``;
* ``add_listener(fn) -> remove``: ``fn(event)`` called synchronously for every new event;
* ``queue() -> asyncio.Queue[UserEvent]`` / ``remove_queue(q)``: every new event, for a consumer task;
* ``await wait_connected(timeout) -> bool``, ``await reconcile()``, ``stats()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

import aiohttp
import msgspec

from ..aio import cancel_and_wait, jittered, wait_event
from ..errors import PerpdexError
from ..models import OrderStatus, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from .ws import ws_payloads

if TYPE_CHECKING:
    from .base import ExchangeClient

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
Listener = Callable[[UserEvent], None]


class StreamReset(ConnectionError):
    """Raised by ``handle_frame`` when the frame means the socket must be reopened (an expired
    listenKey...): the stream closes it and reconnects (then reconciles)."""


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


class UserStream:
    """One exchange's user-data stream (see module doc). ``client`` is the exchange client whose
    account the stream follows (its catalog maps exchange symbols back to canonical ones, its
    REST methods reconcile). Subclasses set ``exchange`` and implement the hooks."""

    exchange: str = ""
    keepalive_interval: float | None = None  # seconds between keepalive() calls; None: never
    #: subscribe acknowledgements to await (``handle_frame`` calls :meth:`acknowledged`) before the
    #: stream counts as subscribed and reconciles; 0 where the exchange sends none
    subscription_acks: int = 0
    ack_timeout: float = 10.0

    def __init__(
        self,
        client: "ExchangeClient",
        *,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
        heartbeat: float = 20.0,
        reconcile_on_connect: bool = True,
    ) -> None:
        self.client = client
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.heartbeat = heartbeat
        self.reconcile_on_connect = reconcile_on_connect
        self.outbox: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
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
        self.reconciliations = 0
        self.reconcile_errors = 0
        self.recovered_fills = 0  # fills first learned from REST reconciliation

    # -- hooks ------------------------------------------------------------------------------------
    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        """Connect, authenticate and subscribe; return the open socket."""
        raise NotImplementedError

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        """Decode one frame into user events; raise on malformed input."""
        raise NotImplementedError

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Recent fills of ``symbol`` over REST (newest or oldest first, any order)."""
        raise NotImplementedError

    async def keepalive(self) -> None:
        """Called every ``keepalive_interval`` s while connected (listenKey refresh...)."""

    # -- helpers for subclasses ---------------------------------------------------------------------
    def canonical(self, contract_id: str) -> str:
        """Exchange symbol / market id -> canonical symbol, from the client's catalog; raises
        ``ValueError`` naming the symbol when the catalog does not list it."""
        for c in self.client.contracts.values():
            if c.contract_id == contract_id:
                return c.symbol
        raise ValueError(f"[{self.exchange}] unknown market {contract_id!r} in a user-stream frame")

    def acknowledged(self) -> None:
        """Called by ``handle_frame`` for each subscribe acknowledgement of the current socket."""
        self._acks += 1
        if self._acks >= self.subscription_acks:
            self._subscribed.set()

    async def connect_ws(self, session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
        return await session.ws_connect(url, heartbeat=self.heartbeat, max_msg_size=0)

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
        await cancel_and_wait(self._reconcile_task, self._task)
        self._task = self._reconcile_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed (acknowledged where the exchange acknowledges)
        within ``timeout`` s."""
        return await wait_event(self._subscribed, timeout)

    def track(self, symbol: str) -> None:
        """Reconcile ``symbol``'s fills and position after every (re)connect."""
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
        return self._orders.get(str(order_id))

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
            except asyncio.TimeoutError:
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

    def queue(self, maxsize: int = 0) -> "asyncio.Queue[UserEvent]":
        """A queue receiving every new event from now on (a full queue drops, logged)."""
        q: asyncio.Queue[UserEvent] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    def remove_queue(self, q: "asyncio.Queue[UserEvent]") -> None:
        if q in self._queues:
            self._queues.remove(q)

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: state (connected | connecting | stopped), frames (messages),
        bytes, dropped frames, duplicates ignored, connects, reconnects, reconciliations (and
        errors), fills counted, fills recovered from REST."""
        state = "stopped" if self._task is None else "connected" if self._connected.is_set() else "connecting"
        return {"exchange": self.exchange, "state": state, "messages": self.messages, "bytes": self.bytes,
                "dropped": self.dropped, "duplicates": self.duplicates, "connects": self.connects,
                "reconnects": self.reconnects, "reconciliations": self.reconciliations,
                "reconcile_errors": self.reconcile_errors, "fills": len(self._fills),
                "recovered_fills": self.recovered_fills}

    # -- ingestion ----------------------------------------------------------------------------------
    def ingest(self, ev: UserEvent) -> bool:
        """Record ``ev`` unless it is already known (see module doc); True when it was new."""
        if isinstance(ev, UserFill):
            new = self._ingest_fill(ev)
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
            self.duplicates += 1
            return False
        self._notify(ev)
        return True

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

    # -- reconciliation -----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """REST catch-up: recent fills of every tracked symbol, the state of every order seen
        but not final (and of orders first met through a recovered fill), the position of every
        tracked symbol. Each item is ingested like a stream
        event (counted once). Raises the exchange's typed errors."""
        self.reconciliations += 1
        pending = {oid: o.symbol for oid, o in self._orders.items() if not o.status.is_final}
        for sym in sorted(self._tracked):
            for f in await self.fetch_fills(sym):
                if self._ingest_fill(f):
                    self.recovered_fills += 1
                    self._notify(f)
                    if f.order_id not in self._orders:  # an order we only know from REST
                        pending[f.order_id] = f.symbol
        for oid, sym in pending.items():
            info = await self.client.get_order_info(sym, oid)
            if info is None:
                continue
            known = self._orders.get(oid)
            self.ingest(UserOrderUpdate(self.exchange, sym, oid, info.status, info.filled_size, info.remaining_size,
                                        info.average_price, info.side, info.price,
                                        info.client_order_id or (known.client_order_id if known else None), time.time()))
        for sym in sorted(self._tracked):
            snap = await self.client.get_position_snapshot(sym)
            qty = snap.quantity if snap is not None else Decimal(0)
            cur = self._positions.get(sym)
            if cur is None or cur.quantity != qty:
                self.ingest(UserPositionUpdate(self.exchange, sym, qty, snap.entry_price if snap else Decimal(0),
                                               snap.liquidation_price if snap else None,
                                               snap.mark_price if snap else None,
                                               snap.unrealized_pnl if snap else None, time.time()))

    async def _reconcile_safe(self) -> None:
        try:
            # fills after the REST read must reach us over the socket: subscribed first
            if not await wait_event(self._subscribed, self.ack_timeout):
                log.warning("%s user stream: subscriptions not acknowledged within %.0fs; reconciling anyway",
                            self.exchange, self.ack_timeout)
            await self.reconcile()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream keeps going; next reconnect retries
            self.reconcile_errors += 1
            log.warning("%s user stream: REST reconciliation failed: %s", self.exchange, exc)

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
                if self.reconcile_on_connect:
                    if self._reconcile_task is not None:
                        self._reconcile_task.cancel()
                    self._reconcile_task = asyncio.get_running_loop().create_task(self._reconcile_safe())
                if self.keepalive_interval:
                    keep = asyncio.get_running_loop().create_task(self._keepalive_loop())
                await self._read(ws)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, ConnectionError, OSError, asyncio.TimeoutError, PerpdexError) as exc:
                self.last_error = str(exc)
                log.warning("%s user stream: connection error: %s", self.exchange, exc)
            except Exception as exc:  # noqa: BLE001 - never let the stream die; log the bug, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s user stream: unexpected error", self.exchange)
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
