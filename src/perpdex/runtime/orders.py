"""Single orders of one strategy on one market, tracked to the last fill: the runtime's part of a
grid (and of any strategy that works resting orders rather than atomic pairs).

* Every order is written to storage **before** it is sent (status ``pending``, a client order id
  carrying the strategy's tag, :mod:`perpdex.runtime.ids`), then updated from its answer. An
  order whose answer never came is ``uncertain`` until the exchange's open orders (by client id)
  or its fills say what became of it.
* Fills arrive from the user stream (as they happen) and from REST (:meth:`OrderTracker.sync`:
  the order's state, then the exchange's fill history for any quantity storage lacks). Each
  execution is stored once per ``(exchange, trade_id)``; only a fill seen for the first time
  reaches the strategy's ``on_fill``, so a duplicated frame, a REST poll after the stream, or a
  restart never delivers a fill twice. The fill and its order's new state are committed in one
  transaction before the strategy reacts to it.
* The strategy's position is the signed sum of its own stored fills, never the exchange's net
  position (another strategy may trade the same market on the same account). An order the
  exchange reported more filled than storage holds is :meth:`OrderTracker.unsettled` until its
  fills are in (stream, else the fill history).
* An unreadable open-orders list or fill history concludes nothing (the next sync asks again); a
  lost-answer order whose fills come without client ids is claimed through the order's own client
  id (:meth:`OrderTracker._claim_unmatched`).

Sizes are base units of the exchange's market, prices USD, fees USD (+ paid).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..errors import ExchangeError, InvalidOrder, OrderNotFound
from ..exchanges.base import ExchangeClient
from ..models import OrderInfo, OrderStatus, Side, UserFill, UserOrderUpdate
from ..storage import OrderFillRow, OrderRole, OrderRow
from .core import TradingRuntime
from .ids import ClientIds

log = logging.getLogger(__name__)

PENDING = "pending"  # written, not answered yet
UNCERTAIN = "uncertain"  # sent, answer lost: the exchange's open orders / fills will tell
LIVE_STATUSES = [PENDING, UNCERTAIN, OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value]
FINAL = {OrderStatus.FILLED.value, OrderStatus.CANCELED.value, OrderStatus.REJECTED.value}


@dataclass(frozen=True)
class NewFill:
    """A fill stored for the first time: ``row`` its order (updated), ``fill`` the stored row."""

    row: OrderRow
    fill: OrderFillRow


FillHandler = Callable[[NewFill], Awaitable[None]]


def signed(side: str, qty: Decimal) -> Decimal:
    return qty if side == Side.BUY.value else -qty


class OrderTracker:
    """``strategy``'s orders on ``client``'s ``symbol`` (see module doc). ``on_fill`` is awaited,
    one at a time in arrival order, for every newly stored fill; ``order_timeout_s`` bounds each
    request (an order past it is ``uncertain``, never sent twice)."""

    def __init__(self, runtime: TradingRuntime, strategy: str, client: ExchangeClient, symbol: str, *,
                 on_fill: FillHandler | None = None, order_timeout_s: float = 5.0, tag: int | None = None) -> None:
        self.rt = runtime
        self.strategy = strategy
        self.client = client
        self.exchange = client.name
        self.symbol = symbol
        self.on_fill = on_fill
        self.order_timeout_s = order_timeout_s
        self.ids = ClientIds(strategy, tag)
        self.rows: dict[int, OrderRow] = {}  # live and recent orders by row id
        self._queue: asyncio.Queue[UserFill | UserOrderUpdate] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._fill_lock = asyncio.Lock()
        self._settling: set[asyncio.Task[None]] = set()
        self._unmatched: dict[str, list[UserFill]] = {}  # order id -> fills seen before the order's answer
        self._reported: dict[int, Decimal] = {}  # row id -> filled quantity an answer / update reported
        self.fills_stored = 0
        self.duplicates = 0
        self._position: Decimal | None = None  # signed, from stored fills (loaded by start)
        self._seen: set[str] = set()  # trade ids stored (or being stored) for this market

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load this strategy's live orders from storage and listen to the user streams."""
        for row in await self.rt.store.orders(self.strategy, statuses=LIVE_STATUSES):
            if row.exchange == self.exchange and row.symbol == self.symbol:
                self.rows[row.id] = row
        stored = await self._stored_fills()
        self._position = sum((signed(f.side, f.quantity) for f in stored), Decimal(0))
        self._seen = {f.trade_id for f in stored}
        if self._unsubscribe is None:
            self._unsubscribe = self.rt.subscribe(self._on_event)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._consume(), name=f"{self.strategy}-fills")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.settle()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _on_event(self, ev: object) -> None:
        # every order event of the market: a fill can beat the order's answer (its id unknown yet)
        if isinstance(ev, (UserFill, UserOrderUpdate)) and ev.exchange == self.exchange and ev.symbol == self.symbol:
            self._queue.put_nowait(ev)

    async def _consume(self) -> None:
        while True:
            ev = await self._queue.get()
            try:
                if isinstance(ev, UserFill):
                    await self.record_fill(ev)
                else:
                    await self._apply_update(ev)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; REST sync recovers what was missed
                log.exception("%s: handling %s failed", self.strategy, type(ev).__name__)

    async def drain(self) -> None:
        """Wait until every stream event received so far is handled (at once when called from the
        handler of one: an ``on_fill`` cannot wait for the events queued behind its own)."""
        if asyncio.current_task() is self._task:
            return
        while not self._queue.empty():
            await asyncio.sleep(0.002)

    # -- queries -----------------------------------------------------------------------------------
    def live(self, role: OrderRole | None = None) -> list[OrderRow]:
        """Orders not final (pending, uncertain, open, partially filled), oldest first."""
        return [r for r in sorted(self.rows.values(), key=lambda r: r.id)
                if r.status in LIVE_STATUSES and (role is None or r.role == role)]

    def _row_by_order_id(self, order_id: str | None) -> OrderRow | None:
        if order_id is None:
            return None
        for r in self.rows.values():
            if r.order_id == order_id:
                return r
        return None

    def _row_for(self, order_id: str | None, client_order_id: str | None) -> OrderRow | None:
        row = self._row_by_order_id(order_id)
        if row is None and client_order_id:
            row = next((r for r in self.rows.values() if r.client_order_id == client_order_id), None)
        return row

    @property
    def position(self) -> Decimal:
        """This strategy's signed position (base units): the sum of its stored fills (kept in
        memory from :meth:`start` on)."""
        if self._position is None:
            raise RuntimeError("OrderTracker.start() first")
        return self._position

    async def _stored_fills(self) -> list[OrderFillRow]:
        return [f for f in await self.rt.store.order_fills(self.strategy)
                if f.exchange == self.exchange and f.symbol == self.symbol]

    async def stored_position(self) -> Decimal:
        """This strategy's signed position (base units) summed from storage."""
        return sum((signed(f.side, f.quantity) for f in await self._stored_fills()), Decimal(0))

    async def _replay_early_fills(self, order_id: str | None) -> None:
        """Record the fills that arrived before ``order_id`` was known (kept in ``_unmatched``)."""
        for early in self._unmatched.pop(order_id or "", []):
            await self.record_fill(early)

    # -- orders --------------------------------------------------------------------------------------
    async def place_limit(self, side: Side, quantity: Decimal, price: Decimal, role: OrderRole, *,
                          reduce_only: bool = False, post_only: bool = False, parent_id: int | None = None,
                          detail: dict[str, object] | None = None) -> OrderRow:
        """Store, then send one limit order; returns its row (status from the answer: ``open``,
        ``filled``, ``canceled`` for a post-only order that would have crossed, ``rejected`` for
        an order refused before or by the exchange (``detail.error``), ``uncertain`` without an
        answer in ``order_timeout_s``)."""
        cid = self.ids.next()
        row = await self.rt.store.add_order(
            strategy=self.strategy, account=self.rt.account, exchange=self.exchange, symbol=self.symbol,
            client_order_id=cid, role=str(role), side=side.value, price=price, quantity=quantity, filled=Decimal(0),
            status=PENDING, reduce_only=reduce_only, post_only=post_only, parent_id=parent_id, detail=dict(detail or {}))
        self.rows[row.id] = row
        try:
            res = await asyncio.wait_for(self.client.place_limit_order(
                self.symbol, side, quantity, price, reduce_only=reduce_only, post_only=post_only, client_order_id=cid),
                self.order_timeout_s)
        except TimeoutError:
            return await self._update(row, status=UNCERTAIN, detail={"error": f"no answer in {self.order_timeout_s}s"})
        except InvalidOrder as exc:
            return await self._update(row, status=OrderStatus.REJECTED.value, detail={"error": str(exc)})
        except ExchangeError as exc:
            # the request may or may not have reached the exchange: find out by client id later
            return await self._update(row, status=UNCERTAIN, detail={"error": str(exc)})
        if not res.success:
            return await self._update(row, status=OrderStatus.REJECTED.value, detail={"error": res.error or "rejected"},
                                      order_id=res.order_id)
        status = res.status.value
        cur = self.rows[row.id]  # a stream event may have moved it while the request was out
        fields: dict[str, object] = {"order_id": res.order_id, "price": res.price or price}
        if res.size:
            fields["quantity"] = res.size
        if cur.status in (PENDING, UNCERTAIN) or (status in FINAL and cur.status not in FINAL):
            fields["status"] = status
        row = await self._update(cur, **fields)
        await self._replay_early_fills(res.order_id)
        row = self.rows[row.id]
        self._expect(row.id, res.filled_size)
        return row

    async def adopt(self, fills: list[UserFill], *, client_order_id: str | None, role: OrderRole, side: Side,
                    detail: dict[str, object] | None = None) -> list[NewFill]:
        """Record the executions ``fills`` of one order this tracker did not send (an exchange-side
        backstop that executed: runtime/backstops.py) as this strategy's: its order row is stored
        once per order id (``quantity`` what executed, so it ends ``filled``), then each fill goes
        through :meth:`record_fill` (once per trade id: calling again is harmless). Returns the
        fills stored for the first time."""
        if not fills:
            return []
        order_id = fills[0].order_id
        row = self._row_by_order_id(order_id)
        if row is None:
            row = next((r for r in await self.rt.store.orders(self.strategy, role=str(role))
                        if r.order_id == order_id and r.exchange == self.exchange and r.symbol == self.symbol), None)
            if row is None:
                executed = sum((f.qty for f in fills), Decimal(0))
                avg = sum((f.qty * f.price for f in fills), Decimal(0)) / executed
                row = await self.rt.store.add_order(
                    strategy=self.strategy, account=self.rt.account, exchange=self.exchange, symbol=self.symbol,
                    client_order_id=client_order_id, order_id=order_id, role=str(role), side=side.value, price=avg,
                    quantity=executed, filled=Decimal(0), status=OrderStatus.OPEN.value, reduce_only=True,
                    post_only=False, detail=dict(detail or {}))
            self.rows[row.id] = row
        out: list[NewFill] = []
        early = self._unmatched.pop(order_id, [])
        for f in sorted([*early, *fills], key=lambda t: (t.ts, t.trade_id)):
            if (new := await self.record_fill(f)) is not None:
                out.append(new)
        return out

    def _expect(self, row_id: int, filled: Decimal) -> None:
        """An answer or update reported ``filled`` executed: until storage holds that much the
        order is unsettled; the fills are awaited from the stream, then taken from the history."""
        if filled > self._reported.get(row_id, Decimal(0)):
            self._reported[row_id] = filled
        if filled > self.rows[row_id].filled:
            self._spawn(self._settle(row_id, filled))

    def unsettled(self) -> list[OrderRow]:
        """Orders the exchange reported more filled than the fills stored for them (the fills
        are still on their way): the position is not known until they are in."""
        return [self.rows[i] for i, q in self._reported.items() if i in self.rows and self.rows[i].filled < q]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, row_id: int, filled: Decimal, wait_s: float = 1.0) -> None:
        """An answer said ``filled`` executed: give the stream ``wait_s`` to deliver the fills,
        then take what is still missing from the fill history."""
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while loop.time() < end and self.rows[row_id].filled < filled:
            await asyncio.sleep(0.02)
        if self.rows[row_id].filled < filled:
            await self._fills_from_history()

    async def settle(self) -> None:
        """Wait for every pending fill settlement (answers that reported fills)."""
        while self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)

    async def cancel(self, row: OrderRow) -> OrderRow:
        """Cancel ``row`` (no-op when final); an order the exchange no longer knows is synced."""
        if row.status in FINAL:
            return row
        if row.order_id is None:
            await self.sync_row(row)
            if row.order_id is None or row.status in FINAL:
                return row
        try:
            await asyncio.wait_for(self.client.cancel_order(self.symbol, row.order_id), self.order_timeout_s)
        except (OrderNotFound, InvalidOrder):
            pass
        except (TimeoutError, ExchangeError) as exc:
            log.warning("%s: cancel of %s failed: %s (synced next cycle)", self.strategy, row.client_order_id, exc)
            return row
        return await self.sync_row(row)

    async def _update(self, row: OrderRow, **fields: object) -> OrderRow:
        if "detail" in fields:
            fields["detail"] = {**(row.detail or {}), **fields["detail"]}  # type: ignore[dict-item]  # detail is always a dict
        new = await self.rt.store.update_order(row.id, **fields)
        cur = self.rows.get(row.id)
        if cur is not None and "filled" not in fields and cur.filled > new.filled:
            # a fill recorded while this update was on its way: the store read the row before it
            new.filled = cur.filled
            if cur.status in FINAL and new.status not in FINAL:
                new.status = cur.status
        self.rows[row.id] = new
        return new

    async def _apply_update(self, ev: UserOrderUpdate) -> None:
        row = self._row_for(ev.order_id, ev.client_order_id)
        if row is None or row.status in FINAL:
            return
        fields: dict[str, object] = {"status": ev.status.value}
        if row.order_id is None:
            fields["order_id"] = ev.order_id
        row = await self._update(row, **fields)
        await self._replay_early_fills(ev.order_id)
        self._expect(row.id, ev.filled)  # the fills must follow: stream, else history

    # -- fills ---------------------------------------------------------------------------------------
    async def record_fill(self, f: UserFill) -> NewFill | None:
        """Store ``f`` once (by trade id) against its order; then ``on_fill``. Returns the new
        fill, or None when already stored or not this strategy's."""
        async with self._fill_lock:
            row = self._row_for(f.order_id, f.client_order_id)
            if row is None:
                if self.ids.owns(f.client_order_id) or any(r.order_id is None for r in self.rows.values()):
                    # ours, or maybe ours (an answer still pending): kept until the order id is known
                    self._unmatched.setdefault(f.order_id, []).append(f)
                return None
            if f.trade_id in self._seen:
                self.duplicates += 1
                return None
            fields: dict[str, object] = {"filled": row.filled + f.qty}
            if row.order_id is None:
                fields["order_id"] = f.order_id
            if row.filled + f.qty >= row.quantity:
                fields["status"] = OrderStatus.FILLED.value
            elif row.status in (PENDING, UNCERTAIN, OrderStatus.OPEN.value):
                fields["status"] = OrderStatus.PARTIALLY_FILLED.value
            # the fill and its order's new state in one transaction, before the strategy acts on it
            stored = await self.rt.store.add_order_fill(
                row.id, strategy=self.strategy, exchange=self.exchange, symbol=self.symbol, order_id=f.order_id,
                trade_id=f.trade_id, side=f.side.value, quantity=f.qty, price=f.price, fee=f.fee,
                liquidity=f.liquidity, ts=datetime.fromtimestamp(f.ts, UTC), order_fields=fields)
            self._seen.add(f.trade_id)
            if stored is None:
                self.duplicates += 1
                return None
            self.fills_stored += 1
            if self._position is not None:
                self._position += signed(f.side.value, f.qty)
            for k, v in fields.items():
                setattr(row, k, v)
            self.rows[row.id] = row
            new = NewFill(row, stored)
        if self.on_fill is not None:
            await self.on_fill(new)
        return new

    async def sync_row(self, row: OrderRow) -> OrderRow:
        """REST truth for one order: its id (by client id among the open orders when the answer
        was lost), its state, and every fill storage lacks (from the exchange's fill history)."""
        if row.order_id is None:
            try:
                opens = await self.client.fetch_open_orders(self.symbol)
            except ExchangeError as exc:
                log.warning("%s: open orders unreadable: %s", self.strategy, exc)
                return row  # unknown: nothing concluded (the next sync asks again)
            match = next((o for o in opens if o.client_order_id == row.client_order_id), None)
            if match is not None:
                row = await self._update(row, order_id=match.order_id, status=match.status.value)
                await self._replay_early_fills(match.order_id)
                row = self.rows[row.id]
            else:
                read = await self._fills_from_history()
                if self.rows[row.id].order_id is None and read is not None:
                    await self._claim_unmatched()
                row = self.rows[row.id]
                if row.order_id is None and read is not None:
                    # neither resting nor filled: the order never reached the book
                    age = (datetime.now(UTC) - row.created_at).total_seconds()
                    if age > 2 * self.order_timeout_s:
                        row = await self._update(row, status=OrderStatus.REJECTED.value,
                                                 detail={"error": "never reached the exchange"})
                return row
        try:
            info = await self.client.fetch_order(self.symbol, row.order_id)  # type: ignore[arg-type]  # rows without an id returned above
        except ExchangeError as exc:
            log.warning("%s: order %s unreadable: %s", self.strategy, row.order_id, exc)
            return row
        if info is None:
            return row
        return await self._apply_info(row, info)

    async def _apply_info(self, row: OrderRow, info: OrderInfo) -> OrderRow:
        """The exchange's state of ``row``'s order: fills storage lacks come from the fill history;
        a final state is never undone by a non-final one."""
        if info.filled_size > row.filled:
            self._reported[row.id] = max(self._reported.get(row.id, Decimal(0)), info.filled_size)
            await self._fills_from_history()
            row = self.rows[row.id]
        if row.status not in FINAL or info.status.value in FINAL:
            if info.status.value != row.status and not (row.status in FINAL and info.status.value not in FINAL):
                row = await self._update(row, status=info.status.value)
        return row

    async def _fills_from_history(self) -> int | None:
        """Store the fills of this strategy's orders that the exchange's fill history shows and
        storage lacks (matched by order id, or client id where the exchange reports it); returns
        how many, None when the history was unreadable."""
        try:
            fills = await self.client.fetch_fills(self.symbol)
        except ExchangeError as exc:
            log.warning("%s: fill history unreadable: %s", self.strategy, exc)
            return None
        n = 0
        for f in sorted(fills, key=lambda x: (x.ts, x.trade_id)):
            if await self.record_fill(f) is not None:
                n += 1
        return n

    async def _claim_unmatched(self) -> None:
        """Fills of orders whose id no row knows (an answer lost, a fill history without client
        ids): ask the exchange for each such order's client id; a row of ours without an order id
        that carries it takes the order and its fills."""
        for order_id in list(self._unmatched):
            try:
                info = await self.client.fetch_order(self.symbol, order_id)
            except ExchangeError as exc:
                log.warning("%s: order %s unreadable: %s", self.strategy, order_id, exc)
                continue
            if info is None or not info.client_order_id:
                continue
            if not self.ids.owns(info.client_order_id):
                self._unmatched.pop(order_id, None)  # another strategy's order
                continue
            row = next((r for r in self.rows.values() if r.order_id is None and r.client_order_id == info.client_order_id),
                       None)
            if row is None:
                continue
            await self._update(row, order_id=order_id, status=info.status.value)
            await self._replay_early_fills(order_id)

    async def sync(self) -> None:
        """REST reconciliation of every live order, and the fill history for orders still
        :meth:`unsettled`. One open-orders request covers the orders still resting; only an order
        that is not among them (filled, cancelled, or its id unknown) is asked about by itself
        (:meth:`sync_row`)."""
        live = self.live()
        resting: dict[str, OrderInfo] | None = None
        if any(r.order_id is not None for r in live):
            try:
                resting = {o.order_id: o for o in await self.client.fetch_open_orders(self.symbol)}
            except ExchangeError as exc:
                log.warning("%s: open orders unreadable: %s (each order asked by itself)", self.strategy, exc)
        for row in live:
            info = resting.get(row.order_id) if resting is not None and row.order_id is not None else None
            if info is not None:
                await self._apply_info(self.rows.get(row.id, row), info)
            else:
                await self.sync_row(self.rows.get(row.id, row))
        if self.unsettled():
            await self._fills_from_history()
