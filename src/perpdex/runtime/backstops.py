"""Backstops: a reduce-only stop-market order resting on each open leg's own exchange, so a leg is
closed by the exchange itself while perpdex is not looking (process down, machine rebooted,
network gone), before the exchange liquidates it.

Placement (:meth:`BackstopManager.sync_pair`, right after a pair opens and on every cycle):

* size: the leg's full size, ``min(size the exchange holds, size stored for the leg)``, rounded
  down to the lot, so a backstop is never larger than its leg (and reduce-only on the wire: the
  exchange caps a triggered one to the position, never reversing it);
* trigger: ``mark + fraction_to_liquidation * (liquidation - mark)`` (the leg's exchange-reported
  liquidation price, else the isolated-margin estimate pre-flight uses), rounded to the tick
  toward the mark (the stop fires no later than asked); by the mark price where the exchange
  allows it (``ExchangeClient.stop_trigger_types``), else the exchange's first type;
* moved (new order placed, then the old one cancelled: never a moment without one) when the
  leg's size changed (a partial repair, a top-up, a resize) or its liquidation price moved more
  than ``reprice_fraction`` of itself since the backstop was placed;
* refused by the exchange (trigger too close, would trigger at once, trigger type not
  supported): logged with the exchange's message, retried once at a safer price (further from
  the mark: ``fraction + (1 - fraction) / 2`` of the way), and reported as a
  ``backstop_failed`` event; the stored row keeps the reason, so ``perpdex status`` shows
  ``none: <reason>`` instead of a silently missing backstop.

Every placement is stored (:class:`~perpdex.storage.models.BackstopRow`) BEFORE it is sent, with
a client order id carrying the strategy's tag; an answer that never came is settled from the
exchange's open conditional orders by that client id. On restart (:meth:`BackstopManager.recover`)
the stored backstops are matched with the exchanges' open conditional orders; those of pairs no
longer open, and this strategy's conditional orders no row knows, are cancelled.

Firing: a fill of a backstop's order on the user stream calls ``on_fire`` at once (the strategy
then runs its risk rules: the other leg is closed, as for a liquidation); on restart a leg found
smaller than stored is checked against the fill history (:meth:`BackstopManager.collect_fired`): fills of
the backstop's order id (or client id) say the exchange closed it through the backstop. Its
fills are stored with the pair's close fills.

Sizes are base units of each exchange's market, prices USD per exchange unit. Nothing here names
an exchange.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from ..config import BackstopConfig
from ..errors import ExchangeError, InvalidOrder, OrderNotFound
from ..exchanges.base import ExchangeClient
from ..execution.liquidation import estimate_liquidation_price, maintenance_fraction
from ..models import ExchangePositionSnapshot, Side, UserEvent, UserFill, UserOrderUpdate
from ..storage import BackstopRow, PositionRow, PositionStatus
from .core import TradingRuntime
from .events import EventKind
from .ids import ClientIds

log = logging.getLogger(__name__)

#: states of a backstop row that may still rest on the exchange
LIVE_STATES = ["placing", "resting"]
#: position statuses whose legs keep their backstops (a naked leg keeps its protection)
PROTECTED = [PositionStatus.OPEN, PositionStatus.NAKED]

FireCallback = Callable[[int, str], None]


@dataclass(frozen=True)
class Leg:
    """One leg to protect: ``role`` ``long`` | ``short`` (a pair) or ``grid``; ``side`` the
    position's side (BUY = long); ``size`` the size stored for it in the exchange's base units."""

    role: str
    exchange: str
    symbol: str
    side: Side
    size: Decimal

    @property
    def stop_side(self) -> Side:
        return Side.SELL if self.side is Side.BUY else Side.BUY


class _LegOf(NamedTuple):
    """The position leg a backstop order protects."""

    position_id: int
    leg: str  # "long", "short" or "grid"


@dataclass(frozen=True)
class Fired:
    """A backstop that executed: its row, its fills (from the stream or the fill history)."""

    row: BackstopRow
    fills: list[UserFill]

    @property
    def qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def avg_price(self) -> Decimal | None:
        q = self.qty
        return sum((f.qty * f.price for f in self.fills), Decimal(0)) / q if q > 0 else None

    def reason(self) -> str:
        """The pair's close reason: ``backstop: <exchange> <leg> leg stopped ...``."""
        px = self.avg_price
        at = f" at {float(px):.8g}" if px is not None else ""
        return (f"backstop: {self.row.exchange} {self.row.leg} leg stopped{at} (trigger "
                f"{float(self.row.trigger_price or 0):.8g}, {self.qty.normalize():f} filled)")


def backstop_trigger(mark: Decimal, liquidation: Decimal, fraction: Decimal) -> Decimal:
    """The trigger price ``fraction`` of the way from ``mark`` to ``liquidation`` (USD)."""
    return mark + fraction * (liquidation - mark)


def safer_fraction(fraction: Decimal) -> Decimal:
    """The retry's fraction after a refusal: half the remaining way to the liquidation price."""
    return fraction + (Decimal(1) - fraction) / 2


class BackstopManager:
    """The backstops of one strategy (``strategy`` its name) on ``runtime``; ``client_ids``
    the strategy's id issuer (backstops carry its tag); ``on_fire(position_id, leg)`` is called
    in the user stream's task when a backstop's fill arrives (keep it short)."""

    def __init__(self, runtime: TradingRuntime, strategy: str, cfg: BackstopConfig, client_ids: ClientIds, *,
                 on_fire: FireCallback | None = None, store_fills: bool = True) -> None:
        self.rt = runtime
        #: store a fired backstop's fills as close fills of its position (a pair); False: the
        #: strategy records them itself (a grid, through its OrderTracker)
        self.store_fills = store_fills
        self.strategy = strategy
        self.cfg = cfg
        self.ids = client_ids
        self.on_fire = on_fire
        self._by_order: dict[tuple[str, str], _LegOf] = {}  # (exchange, order or client id) -> its leg
        self._unsubscribe: Callable[[], None] | None = None
        self._fired: set[_LegOf] = set()  # seen firing on the stream, not yet handled
        self._locks: dict[int, asyncio.Lock] = {}
        self._gone_fired: dict[int, list[Fired]] = {}  # executed backstops found while cancelling

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    def _lock(self, position_id: int) -> asyncio.Lock:
        return self._locks.setdefault(position_id, asyncio.Lock())

    # -- the user stream ---------------------------------------------------------------------------
    def watch(self) -> None:
        """Listen to the runtime's user events for fills of resting backstops (idempotent)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.rt.subscribe(self._on_user_event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _index(self, row: BackstopRow) -> None:
        for key in (row.order_id, row.client_order_id):
            if key:
                self._by_order[(row.exchange, key)] = _LegOf(row.position_id, row.leg)

    def _unindex(self, row: BackstopRow) -> None:
        for key in (row.order_id, row.client_order_id):
            if key:
                self._by_order.pop((row.exchange, key), None)

    def _on_user_event(self, ev: UserEvent) -> None:
        if not isinstance(ev, (UserFill, UserOrderUpdate)) or (isinstance(ev, UserOrderUpdate) and ev.filled <= 0):
            return
        keys = (ev.order_id, ev.client_order_id)
        for key in keys:
            hit = self._by_order.get((ev.exchange, str(key))) if key else None
            if hit is not None:
                if hit not in self._fired:
                    self._fired.add(hit)
                    log.warning("%s %s: backstop of #%d's %s leg is executing", ev.exchange, ev.symbol,
                                hit.position_id, hit.leg)
                    if self.on_fire is not None:
                        self.on_fire(hit.position_id, hit.leg)
                return

    def seen_firing(self, position_id: int) -> bool:
        """True when a fill of one of ``position_id``'s backstops arrived on a user stream."""
        return any(f.position_id == position_id for f in self._fired)

    # -- reading the legs --------------------------------------------------------------------------
    def pair_legs(self, pos: PositionRow, multipliers: tuple[Decimal, Decimal]) -> list[Leg]:
        """The two legs of pair ``pos`` (sizes in each exchange's units)."""
        lm, sm = multipliers
        return [Leg("long", pos.long_exchange, pos.symbol, Side.BUY, pos.quantity / lm),
                Leg("short", pos.short_exchange, pos.symbol, Side.SELL, pos.quantity / sm)]

    async def current(self, position_id: int) -> dict[str, BackstopRow]:
        """leg -> the newest row of each leg of ``position_id`` (any state)."""
        out: dict[str, BackstopRow] = {}
        for row in await self.rt.store.backstops(position_id=position_id):
            out[row.leg] = row
        return out

    async def _live_rows(self, position_id: int, leg: str | None = None) -> list[BackstopRow]:
        rows = await self.rt.store.backstops(position_id=position_id, states=LIVE_STATES)
        return [r for r in rows if leg is None or r.leg == leg]

    async def _liquidation(self, client: ExchangeClient, leg: Leg, snap: ExchangePositionSnapshot,
                           leverage: Decimal) -> tuple[Decimal | None, str]:
        """(liquidation price, source): the exchange's, else the pre-flight estimate."""
        if snap.liquidation_price is not None and snap.liquidation_price > 0:
            return snap.liquidation_price, "exchange"
        c = await client.contract_attributes(leg.symbol)
        lev = snap.leverage if snap.leverage and snap.leverage > 0 else leverage
        liq = estimate_liquidation_price(snap.entry_price, leg.side, lev, maintenance_fraction(c))
        return (liq if liq > 0 else None), "estimate"

    @staticmethod
    async def _mark(client: ExchangeClient, symbol: str, snap: ExchangePositionSnapshot) -> Decimal:
        if snap.mark_price is not None and snap.mark_price > 0:
            return snap.mark_price
        bid, ask = await client.fetch_bbo_prices(symbol)
        return (bid + ask) / 2

    # -- placement ---------------------------------------------------------------------------------
    async def sync_pair(self, pos: PositionRow) -> None:
        """Place, resize or move the backstops of both legs of pair ``pos`` (see module doc).
        Exchange errors are logged and stored (retried on the next call), never raised."""
        if not self.enabled:
            return
        try:
            mult = await self.rt.multipliers(pos)
        except ExchangeError as exc:
            log.warning("#%d %s: backstops not checked: %s", pos.id, pos.symbol, exc)
            return
        for leg in self.pair_legs(pos, mult):
            await self.sync_leg(pos, leg, leverage=pos.leverage)

    async def sync_single(self, pos: PositionRow, exchange: str, symbol: str, side: Side, size: Decimal,
                          stop_price: Decimal | None, *, leverage: Decimal, stop_source: str = "stop_price",
                          no_stop_reason: str = "no stop price configured") -> BackstopRow | None:
        """The backstop of a single-market position (a grid's: leg ``grid``): ``side`` the
        position's side (BUY = long), ``size`` its size in the exchange's base units (0: flat, any
        backstop is cancelled), ``stop_price`` the trigger (USD; None: no backstop, stored as
        ``none: <no_stop_reason>``). Placed, resized and moved as :meth:`sync_leg` does; never
        raises exchange errors."""
        if not self.enabled:
            return None
        leg = Leg("grid", exchange, symbol, side, size)
        return await self.sync_leg(pos, leg, leverage=leverage, stop_price=stop_price, stop_source=stop_source,
                                   no_stop_reason=None if stop_price is not None else no_stop_reason)

    async def sync_leg(self, pos: PositionRow, leg: Leg, *, leverage: Decimal,
                       stop_price: Decimal | None = None, stop_source: str | None = None,
                       no_stop_reason: str | None = None) -> BackstopRow | None:
        """Make ``leg``'s backstop match it: size, then trigger (from the liquidation price, or
        ``stop_price`` when given: a grid's). ``no_stop_reason`` (a grid without a stop) stores
        ``none: <reason>``. Returns the leg's current row. Never raises exchange errors."""
        async with self._lock(pos.id):
            try:
                return await self._sync_leg(pos, leg, leverage, stop_price, stop_source, no_stop_reason)
            except ExchangeError as exc:
                log.warning("#%d %s %s leg on %s: backstop not synced: %s", pos.id, pos.symbol, leg.role,
                            leg.exchange, exc)
                return None

    async def _sync_leg(self, pos: PositionRow, leg: Leg, leverage: Decimal, stop_price: Decimal | None,
                        stop_source: str | None, no_stop_reason: str | None) -> BackstopRow | None:
        client = self.rt.clients[leg.exchange]
        live = await self._live_rows(pos.id, leg.role)
        live = [r for r in live if await self._settle_placing(client, r)]
        snap = await client.fetch_position(leg.symbol)
        held = abs(snap.quantity) if snap is not None and snap.quantity * leg.side.sign > 0 else Decimal(0)
        c = await client.contract_attributes(leg.symbol)
        qty = c.round_size(min(held, leg.size))
        if qty <= 0 or qty < c.min_size or snap is None:
            for r in live:
                await self._cancel_row(client, r, "cancelled", "leg flat" if held == 0 else "leg below minimum size")
            if held > 0:
                return await self._none(pos, leg, f"leg size {qty.normalize():f} below the exchange's minimum order")
            return None
        mark = await self._mark(client, leg.symbol, snap)
        if stop_price is not None:
            liq, source, trigger = None, stop_source or "stop_price", stop_price
        elif no_stop_reason is not None:
            for r in live:
                await self._cancel_row(client, r, "cancelled", no_stop_reason)
            return await self._none(pos, leg, no_stop_reason)
        else:
            liq, source = await self._liquidation(client, leg, snap, leverage)
            if liq is None:
                return await self._none(pos, leg, "no liquidation price (fully collateralized leg)")
            if (liq - mark) * leg.side.sign >= 0:
                return await self._none(pos, leg, f"liquidation price {float(liq):.8g} at or past the mark "
                                                  f"{float(mark):.8g}")
            trigger = backstop_trigger(mark, liq, self.cfg.fraction_to_liquidation)
        trigger = c.round_price(trigger, leg.stop_side)
        newest = live[-1] if live else None
        if newest is not None and newest.state == "resting" and newest.quantity == qty and len(live) == 1:
            if stop_price is not None and newest.trigger_price == trigger:
                return newest
            if stop_price is None and newest.liquidation_price and liq is not None and (
                    abs(liq - newest.liquidation_price) <= self.cfg.reprice_fraction * newest.liquidation_price):
                return newest
        why = ("placed" if newest is None else
               f"resized {newest.quantity.normalize():f} -> {qty.normalize():f}" if newest.quantity != qty else
               f"moved (liquidation {float(newest.liquidation_price or 0):.8g} -> {float(liq or 0):.8g})"
               if stop_price is None else f"moved to stop price {trigger}")
        row = await self._place(client, pos, leg, qty, trigger, mark, liq, source, why)
        if row is not None and row.state == "resting":
            for old in live:
                await self._cancel_row(client, old, "replaced", f"replaced by backstop {row.id}")
        return row

    async def _none(self, pos: PositionRow, leg: Leg, reason: str) -> BackstopRow:
        """Store (once per reason) that ``leg`` has no backstop and why; reported as an event."""
        cur = (await self.current(pos.id)).get(leg.role)
        if cur is not None and cur.state == "none" and cur.reason == reason[:200]:
            return cur
        row = await self.rt.store.add_backstop(position_id=pos.id, strategy=self.strategy, leg=leg.role,
                                               exchange=leg.exchange, symbol=leg.symbol, side=leg.stop_side.value,
                                               quantity=Decimal(0), state="none", reason=reason[:200])
        self.rt.event(f"#{pos.id} {leg.symbol} {leg.role} leg on {leg.exchange}: no backstop: {reason}",
                      logging.WARNING, kind=EventKind.BACKSTOP_FAILED, strategy=self.strategy, position_id=pos.id,
                      leg=leg.role, exchange=leg.exchange, reason=reason)
        return row

    def _trigger_by(self, client: ExchangeClient) -> str:
        types = client.stop_trigger_types
        return "mark" if "mark" in types else types[0]

    async def _place(self, client: ExchangeClient, pos: PositionRow, leg: Leg, qty: Decimal, trigger: Decimal,
                     mark: Decimal, liq: Decimal | None, source: str, why: str) -> BackstopRow | None:
        """Send one backstop (retried once at a safer trigger when refused); the stored row."""
        c = await client.contract_attributes(leg.symbol)
        by = self._trigger_by(client)
        first_error: str | None = None
        for attempt in (0, 1):
            cid = self.ids.next()
            row = await self.rt.store.add_backstop(
                position_id=pos.id, strategy=self.strategy, leg=leg.role, exchange=leg.exchange, symbol=leg.symbol,
                side=leg.stop_side.value, client_order_id=cid, quantity=qty, trigger_price=trigger, trigger_by=by,
                liquidation_price=liq, liquidation_source=source, state="placing")
            self._index(row)
            try:
                res = await client.place_stop_market(leg.symbol, leg.stop_side, qty, trigger, reduce_only=True,
                                                     trigger_by=by, client_order_id=cid)
            except InvalidOrder as exc:
                self._unindex(row)
                await self.rt.store.update_backstop(row.id, state="failed", reason=str(exc)[:200])
                if attempt == 0:
                    first_error = str(exc)
                    self.rt.event(f"#{pos.id} {leg.symbol} {leg.role} leg on {leg.exchange}: backstop at {trigger} "
                                  f"refused: {exc}; retrying once further from the mark", logging.WARNING,
                                  kind=EventKind.BACKSTOP_FAILED, strategy=self.strategy, position_id=pos.id,
                                  leg=leg.role, exchange=leg.exchange, reason=str(exc), retrying=True)
                    if liq is not None:
                        safer = backstop_trigger(mark, liq, safer_fraction(self.cfg.fraction_to_liquidation))
                    else:
                        safer = trigger + (trigger - mark) / 2
                    trigger = c.round_price(safer, leg.stop_side)
                    continue
                msg = (f"#{pos.id} {leg.symbol} {leg.role} leg on {leg.exchange}: no backstop: refused twice "
                       f"({first_error}; then at {trigger}: {exc})")
                self.rt.event(msg, logging.ERROR, kind=EventKind.BACKSTOP_FAILED, strategy=self.strategy,
                              position_id=pos.id, leg=leg.role, exchange=leg.exchange, reason=str(exc))
                return await self.rt.store.update_backstop(row.id, reason=f"refused: {exc}"[:200])
            except ExchangeError as exc:
                # no answer / transport error: the order may rest; settled by its client id next time
                log.warning("#%d %s %s leg on %s: backstop answer failed (%s); settled from the exchange's "
                            "conditional orders on the next check", pos.id, leg.symbol, leg.role, leg.exchange, exc)
                return await self.rt.store.update_backstop(row.id, reason=f"no answer: {exc}"[:200])
            if res.order_id is None:
                return await self.rt.store.update_backstop(row.id, reason="no order id in the answer")
            row = await self.rt.store.update_backstop(row.id, order_id=str(res.order_id), state="resting",
                                                      reason=None)
            self._index(row)
            self.rt.event(f"backstop #{pos.id} {leg.symbol} {leg.role} leg on {leg.exchange} {why}: "
                          f"{leg.stop_side.value} {qty.normalize():f} stop at {trigger} ({by} price; liquidation "
                          f"{float(liq):.8g} from {source})" if liq is not None else
                          f"backstop #{pos.id} {leg.symbol} {leg.role} leg on {leg.exchange} {why}: "
                          f"{leg.stop_side.value} {qty.normalize():f} stop at {trigger} ({by} price, {source})",
                          kind=EventKind.BACKSTOP_PLACED, strategy=self.strategy, position_id=pos.id, leg=leg.role,
                          exchange=leg.exchange, trigger_price=trigger, quantity=qty, retried=attempt == 1)
            return row
        return None

    async def _settle_placing(self, client: ExchangeClient, row: BackstopRow) -> bool:
        """A ``placing`` row (its answer never came): adopt the order the exchange holds under its
        client id (True), else mark it failed (False). A resting row: True."""
        if row.state != "placing":
            return True
        for info in await client.fetch_open_conditional_orders(row.symbol):
            if info.client_order_id == row.client_order_id:
                adopted = await self.rt.store.update_backstop(row.id, order_id=str(info.order_id), state="resting",
                                                              reason=None)
                self._index(adopted)
                row.order_id, row.state = adopted.order_id, "resting"
                return True
        await self.rt.store.update_backstop(row.id, state="failed", reason=(row.reason or "no answer")[:150]
                                            + "; not found on the exchange")
        self._unindex(row)
        return False

    async def _cancel_row(self, client: ExchangeClient, row: BackstopRow, state: str, reason: str) -> None:
        """Cancel one stored backstop on its exchange (one already gone counts as cancelled)."""
        order_id = row.order_id
        if order_id is None and row.client_order_id:
            for info in await client.fetch_open_conditional_orders(row.symbol):
                if info.client_order_id == row.client_order_id:
                    order_id = str(info.order_id)
        if order_id is not None:
            try:
                await client.cancel_conditional_order(row.symbol, order_id)
            except OrderNotFound:
                # gone: cancelled elsewhere, or executed just now (a fill the strategy must see)
                row.order_id = order_id
                fills = await self._fills_of(client, row)
                if fills:
                    pos = await self.rt.store.position(row.position_id)
                    if pos is not None:
                        self._gone_fired.setdefault(pos.id, []).append(await self._mark_fired(pos, row, fills))
                        return
                reason = f"{reason} (already gone from the exchange)"
        await self.rt.store.update_backstop(row.id, state=state, reason=reason[:200], order_id=order_id)
        self._unindex(row)

    async def cancel_position(self, pos: PositionRow, reason: str) -> None:
        """Cancel every backstop of ``pos`` that may rest (the pair is closing or closed). Errors
        are logged; :meth:`recover` and the next close retry them."""
        if not await self._live_rows(pos.id):
            return
        async with self._lock(pos.id):
            for row in await self._live_rows(pos.id):
                try:
                    await self._cancel_row(self.rt.clients[row.exchange], row, "cancelled", reason)
                except ExchangeError as exc:
                    log.warning("#%d %s: backstop on %s not cancelled: %s", pos.id, pos.symbol, row.exchange, exc)

    # -- firing ------------------------------------------------------------------------------------
    async def collect_fired(self, pos: PositionRow) -> Fired | None:
        """The backstop of ``pos`` that executed, if one did: a live backstop with fills of its
        order id or client id, from the user stream or the exchange's fill history (or one found
        executed while it was being cancelled). Its row is marked ``fired``, its fills stored as
        close fills of ``pos`` (each once; unless ``store_fills`` is False) and a
        ``backstop_fired`` event published. None when no backstop of ``pos`` executed."""
        gone = self._gone_fired.get(pos.id)
        if gone:
            return gone.pop(0)
        for row in await self._live_rows(pos.id):
            client = self.rt.clients[row.exchange]
            try:
                fills = await self._fills_of(client, row)
            except ExchangeError as exc:
                log.warning("#%d %s: fill history of %s failed: %s", pos.id, pos.symbol, row.exchange, exc)
                continue
            if fills:
                return await self._mark_fired(pos, row, fills)
        return None

    async def _fills_of(self, client: ExchangeClient, row: BackstopRow) -> list[UserFill]:
        """The executions of ``row``'s order: from the user stream, else the fill history."""
        fills = self._stream_fills(client, row)
        if fills:
            return fills
        return [f for f in await client.fetch_fills(row.symbol) if self._is_of(f, row)]

    async def _mark_fired(self, pos: PositionRow, row: BackstopRow, fills: list[UserFill]) -> Fired:
        order_id = row.order_id or fills[0].order_id
        row = await self.rt.store.update_backstop(row.id, state="fired", order_id=order_id,
                                                  reason=f"executed {sum((f.qty for f in fills), Decimal(0))}")
        self._unindex(row)
        self._fired.discard(_LegOf(pos.id, row.leg))
        if self.store_fills:
            await self._store_fills(pos, row, order_id, fills)
        hit = Fired(row, fills)
        self.rt.event(f"backstop fired: #{pos.id} {pos.symbol} {row.leg} leg on {row.exchange}: "
                      f"{hit.qty.normalize():f} {row.side} at {hit.avg_price} (trigger {row.trigger_price})",
                      logging.WARNING, kind=EventKind.BACKSTOP_FIRED, strategy=self.strategy, position_id=pos.id,
                      leg=row.leg, exchange=row.exchange, quantity=hit.qty, price=hit.avg_price)
        return hit

    async def retire(self, pos: PositionRow, reason: str) -> list[Fired]:
        """Before a strategy closes ``pos`` itself (a grid's flatten): the backstops that already
        executed (returned: their fills belong to the position's record), then every other one
        cancelled; one that executes while being cancelled is returned too."""
        out: list[Fired] = []
        while (hit := await self.collect_fired(pos)) is not None:
            out.append(hit)
        await self.cancel_position(pos, reason)
        while (hit := await self.collect_fired(pos)) is not None:
            out.append(hit)
        return out

    @staticmethod
    def _is_of(f: UserFill, row: BackstopRow) -> bool:
        return ((row.order_id is not None and f.order_id == row.order_id)
                or (row.client_order_id is not None and f.client_order_id == row.client_order_id))

    def _stream_fills(self, client: ExchangeClient, row: BackstopRow) -> list[UserFill]:
        stream = client.user_stream
        if stream is None or row.order_id is None:
            return []
        return stream.fills_for(row.order_id)

    async def _store_fills(self, pos: PositionRow, row: BackstopRow, order_id: str, fills: list[UserFill]) -> None:
        """The backstop's executions as close fills of ``pos``, beyond what is stored for its order."""
        have = (await self.rt.store.order_quantities(row.exchange, row.symbol)).get(order_id, Decimal(0))
        for f in sorted(fills, key=lambda t: (t.ts, t.trade_id)):
            if have >= f.qty:
                have -= f.qty
                continue
            qty, have = f.qty - have, Decimal(0)
            await self.rt.store.add_fill(pos.id, "close", exchange=row.exchange, symbol=row.symbol, side=f.side.value,
                                         quantity=qty, price=f.price, fee=f.fee * qty / f.qty, liquidity=f.liquidity,
                                         order_id=order_id, ts=datetime.fromtimestamp(f.ts, UTC))

    # -- restart -----------------------------------------------------------------------------------
    async def recover(self, protected: list[PositionRow]) -> None:
        """After a restart: index the stored backstops of ``protected`` positions (open pairs),
        settle the ones whose answer never came, cancel the backstops of positions no longer
        protected and this strategy's conditional orders that no stored row knows. Then
        :meth:`sync_pair` is what places the missing ones."""
        keep = {p.id for p in protected}
        rows = await self.rt.store.backstops(strategy=self.strategy, states=LIVE_STATES)
        symbols: dict[str, set[str]] = {}
        for row in rows:
            symbols.setdefault(row.exchange, set()).add(row.symbol)
            if row.position_id in keep:
                self._index(row)
                continue
            pos = await self.rt.store.position(row.position_id)
            if pos is not None and pos.status in PROTECTED:
                self._index(row)  # another account's / a naked pair: left alone
                continue
            try:
                await self._cancel_row(self.rt.clients[row.exchange], row, "cancelled",
                                       f"position {pos.status if pos else 'gone'}")
            except ExchangeError as exc:
                log.warning("backstop %s on %s not cancelled: %s", row.client_order_id, row.exchange, exc)
        for p in protected:
            for ex in (p.long_exchange, p.short_exchange):
                symbols.setdefault(ex, set()).add(p.symbol)
        known = {r.client_order_id for r in await self.rt.store.backstops(strategy=self.strategy)}
        for ex, syms in symbols.items():
            client = self.rt.clients.get(ex)
            if client is None:
                continue
            for sym in syms:
                try:
                    infos = await client.fetch_open_conditional_orders(sym)
                except ExchangeError as exc:
                    log.warning("%s %s: conditional orders not listed: %s", ex, sym, exc)
                    continue
                for info in infos:
                    if self.ids.owns(info.client_order_id) and info.client_order_id not in known:
                        log.warning("%s %s: cancelling stop %s (client id %s) no stored backstop knows", ex, sym,
                                    info.order_id, info.client_order_id)
                        try:
                            await client.cancel_conditional_order(sym, info.order_id)
                        except ExchangeError as exc:
                            log.warning("%s %s: stop %s not cancelled: %s", ex, sym, info.order_id, exc)


def _num(v: Any) -> str:
    return "?" if v is None else f"{Decimal(v).normalize():f}"


def describe(rows: list[Any], legs: list[str], *, enabled: bool = True) -> dict[str, str]:
    """``perpdex status``'s view of a position's backstops: leg -> ``"<trigger> (<by>, <size>)"``
    for a resting one, else ``"none: <reason>"``. ``rows`` the position's backstop rows (oldest
    first), ``legs`` the leg names (``"long"``, ``"short"`` or ``"grid"``), ``enabled`` the strategy's ``backstop.enabled``."""
    newest: dict[str, Any] = {}
    for r in rows:
        if r.state in ("resting", "placing"):
            newest[r.leg] = r  # the newest live one wins over a later failed replacement
        elif r.leg not in newest or newest[r.leg].state not in ("resting", "placing"):
            newest[r.leg] = r
    out: dict[str, str] = {}
    for leg in legs:
        r = newest.get(leg)
        if not enabled:
            out[leg] = "none: backstops off (backstop.enabled: false)"
        elif r is None:
            out[leg] = "none: not placed yet"
        elif r.state == "resting":
            out[leg] = f"{_num(r.trigger_price)} ({r.trigger_by}, {_num(r.quantity)})"
        elif r.state == "placing":
            out[leg] = f"{_num(r.trigger_price)} (unconfirmed: {r.reason or 'awaiting the answer'})"
        elif r.state == "fired":
            out[leg] = f"fired ({r.reason})"
        else:
            out[leg] = f"none: {r.reason or r.state}"
    return out


__all__ = ["BackstopManager", "Fired", "Leg", "backstop_trigger", "describe", "safer_fraction"]
