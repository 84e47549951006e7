"""The grid strategy: a take-profit grid on one exchange's perp, made safe.

A ``buy`` grid (``sell`` is its mirror) rests one post-only entry at the bid (minus
``post_only_offset_ticks``); every fill of an entry, the moment it is known (user stream or
REST), gets its reduce-only take-profit at fill price x (1 + ``take_profit``) for exactly the
quantity not yet covered. Entries are spaced in time by a cooldown that shortens as take-profits
fill (:func:`entry_wait`) and in price by ``grid_step``; ``max_orders`` caps the resting
take-profits and ``max_margin_usd`` the margin.

**Invariant**, restored every cycle and on every fill: |position| = sum of the resting
take-profits, within one lot. The position is the grid's own (the sum of its stored fills), so
another strategy on the same market never confuses it. A shortfall gets a take-profit (merged
into the newest one when below the exchange's minimum order size, or when ``max_orders``
take-profits already rest: one order then covers both, priced from their size-weighted entry); an
excess (an orphan) is cancelled; both are reported as events. No entry is sent while fills the
exchange reported are not stored yet (the position is not known), and the margin check values the
position at the entry's own limit price (where it fills).

Gates: ``stop_price`` breached cancels everything, flattens and halts while breached;
``pause_price`` stops new entries; ``stop_loss`` (fraction against the average entry) and
``max_position_age_s`` flatten; ``max_funding_apr_against`` pauses entries while holding the
grid's direction costs more than that APR (funding rate from the exchange's funding adapter).

Backstop (``backstop.enabled``, on by default; docs/CONDITIONAL_ORDERS.md, "Backstops"): while the
grid holds a position and has a stop (``stop_price``, else the ``stop_loss`` price from the average
entry; the nearer of the two when both are set), one reduce-only stop-market order for the whole
position rests on the exchange at that price (runtime/backstops.py), resized after fills and
cancelled when flat. The grid's own flatten first takes the backstop down (one that executed
already is recorded first); a backstop that executed while perpdex was not looking is recorded
as a fill of the grid's own (role ``backstop``), then the grid flattens what is left (read back
from its fills, so nothing is sold twice) and halts as after its own stop.

The strategy only decides: orders, fills and recovery belong to the runtime's
:class:`~perpdex.runtime.orders.OrderTracker`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..config import GridConfig
from ..errors import ExchangeError, PerpdexError
from ..exchanges.base import FundingAdapter
from ..execution.leverage import normalize_leverage
from ..models import ContractAttributes, OrderStatus, Side, UserLiquidation
from ..runtime.backstops import BackstopManager, Fired
from ..runtime.core import TradingRuntime
from ..runtime.events import EventKind
from ..runtime.orders import NewFill, OrderTracker
from ..storage import OrderRole, OrderRow, PositionRow, PositionStatus
from .lots import LotBook

log = logging.getLogger(__name__)

MARKET_SLIPPAGE = Decimal("0.01")  # an exit "at market" is a limit 1 % through the touch
FUNDING_REFRESH_S = 60.0


def entry_wait(tp_count: int, max_orders: int, wait_time_s: float) -> float:
    """Seconds to wait after the last entry before the next one, by the fill ratio
    ``tp_count / max_orders`` (take-profits resting): at least 2/3 -> 2w, 1/3 -> w, 1/6 -> w/2,
    below -> w/4 (``w = wait_time_s``)."""
    ratio = tp_count / max_orders
    if ratio >= 2 / 3:
        return 2 * wait_time_s
    if ratio >= 1 / 3:
        return wait_time_s
    if ratio >= 1 / 6:
        return wait_time_s / 2
    return wait_time_s / 4


@dataclass
class GridState:
    """What the grid decided last: for the report and the dashboard."""

    halted: bool = False
    liquidated: str | None = None  # the exchange liquidated / auto-deleveraged the market: stopped for a person
    paused: str | None = None  # why new entries are paused, None when they are not
    last_entry_at: float = float("-inf")  # monotonic
    last_tp_count: int = 0
    funding_apr: Decimal | None = None  # the market's funding rate as APR (+: longs pay)
    funding_checked_at: float = float("-inf")
    repairs: int = 0
    events: list[str] = field(default_factory=list)


class GridStrategy:
    """One ``grid`` entry (``cfg``) on ``runtime``; ``funding`` the exchange's funding adapter
    (for the funding gate; None: the gate is off)."""

    kind = "grid"

    def __init__(self, cfg: GridConfig, runtime: TradingRuntime, *, funding: FundingAdapter | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.resolved_name
        self.runtime = runtime
        self.client = runtime.clients[cfg.exchange]
        self.symbol = cfg.symbol
        self.side = Side.BUY if cfg.direction == "buy" else Side.SELL
        self.exit_side = self.side.opposite
        self.funding = funding
        self.orders = OrderTracker(runtime, self.name, self.client, self.symbol, on_fill=self._on_fill,
                                   order_timeout_s=cfg.order_timeout_s)
        self.state = GridState()
        self.attrs: ContractAttributes | None = None
        self.leverage = cfg.leverage
        self.holder: PositionRow | None = None  # the row funding payments of the grid hang off
        self._lock = asyncio.Lock()  # one decision about the grid's orders at a time
        self._unsubscribe: Any = None
        self._recheck = False  # a fill came while the lock was held: restore the invariant again
        self._book = LotBook(cfg.direction)  # FIFO lots of the stored fills up to fill id _book_fill_id
        self._book_fill_id = 0
        # the exchange-side stop of the whole position; its ids are the tracker's (a fill on the
        # stream is then held as the grid's until the backstop is adopted), its fills the grid's
        self.backstops = BackstopManager(runtime, self.name, cfg.backstop, self.orders.ids, store_fills=False)
        self._backstop_synced: tuple[Decimal, Decimal | None] | None = None  # (position, trigger) last synced
        self._backstop_trigger: Decimal | None = None  # the resting backstop's trigger
        runtime.reserve_market(self.client.name, self.symbol, self.name)

    # -- events ------------------------------------------------------------------------------------
    def _event(self, msg: str, level: int = logging.INFO, kind: EventKind = EventKind.INFO, **data: object) -> None:
        line = f"[{self.name}] {msg}"
        self.state.events.append(line)
        self.runtime.event(line, level, kind=kind, strategy=self.name, **data)

    def _where(self) -> dict[str, str]:
        """An event's ``exchange`` and ``symbol``."""
        return {"exchange": self.client.name, "symbol": self.symbol}

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, set leverage, start the user stream and the book, then recover: the grid's
        orders from storage and the exchange (by client id), their fills from the fill history,
        and the invariant."""
        await self.runtime.start()
        self.attrs = await self.client.contract_attributes(self.symbol)
        try:
            choice = await normalize_leverage(self.client, self.client, self.symbol, self.cfg.leverage,
                                              self.attrs, self.attrs)
            self.leverage = choice.leverage
        except PerpdexError as exc:
            self._event(f"leverage not set ({exc}); margin figures assume {self.cfg.leverage}x", logging.WARNING)
        if self.cfg.user_streams:
            await self.runtime.start_user_streams([self.symbol])
        self.runtime.hold_market_data(self.client.name, self.symbol)
        await self.client.prepare_market_feed(self.symbol)
        await self.client.feed.wait_ready(self.symbol, self.cfg.feed_ready_timeout_s)
        holders = [p for p in await self.runtime.store.positions([PositionStatus.OPEN], account=self.runtime.account,
                                                                 strategy=self.name)]
        self.holder = holders[0] if holders else await self.runtime.store.create_position(
            account=self.runtime.account, strategy=self.name, symbol=self.symbol, long_exchange=self.client.name,
            short_exchange=self.client.name, status=PositionStatus.OPEN, quantity=Decimal(0), leverage=self.leverage,
            detail={"kind": "grid", "direction": self.cfg.direction})
        await self.orders.start()
        self._unsubscribe = self.runtime.subscribe(self._on_user_event)
        await self.orders.sync()
        recovered = self.orders.live()
        if self.backstops.enabled:
            self.backstops.watch()
            await self.backstops.recover([self.holder])
            if await self._backstop_fired():  # executed while perpdex was down
                await self.flatten("backstop fired")
        await self.check_invariant()
        await self.sync_backstop()
        self._event(f"started on {self.client.name} {self.symbol} ({self.cfg.direction}); position "
                    f"{self.orders.position:f}, {len(recovered)} order(s) recovered, leverage {self.leverage}x")

    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Cycle every ``cycle_interval_s`` until ``duration_s`` elapsed or ``stop`` is set."""
        stop = stop or asyncio.Event()
        deadline = time.monotonic() + duration_s if duration_s else None
        while not stop.is_set():
            try:
                await self.cycle()
            except ExchangeError as exc:
                log.warning("[%s] cycle failed: %s (next cycle retries)", self.name, exc)
            if deadline is not None and time.monotonic() >= deadline:
                break
            wait = self.cfg.cycle_interval_s
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0))
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
        await self.sync_funding()

    async def stop(self) -> None:
        """Stop tracking (resting orders stay on the exchange: the next start recovers them)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.backstops.close()
        await self.orders.stop()

    # -- market ------------------------------------------------------------------------------------
    async def fetch_touch(self) -> tuple[Decimal, Decimal]:
        """(bid, ask) from the WebSocket book; REST only while the feed is not ready."""
        depth = self.client.feed_depth(self.symbol, 1)
        if depth and depth["bids"] and depth["asks"]:
            return depth["bids"][0]["price"], depth["asks"][0]["price"]
        return await self.client.fetch_bbo_prices(self.symbol)

    async def _funding_apr(self) -> Decimal | None:
        if self.funding is None or self.cfg.max_funding_apr_against is None:
            return None
        now = time.monotonic()
        if now - self.state.funding_checked_at >= FUNDING_REFRESH_S:
            self.state.funding_checked_at = now
            try:
                sample = (await self.funding.fetch_funding_rates()).get(self.symbol)
                self.state.funding_apr = sample.apr if sample is not None else None
            except ExchangeError as exc:
                log.warning("[%s] funding rate unreadable: %s", self.name, exc)
        return self.state.funding_apr

    async def lot_book_now(self) -> LotBook:
        """FIFO lots of the grid's stored fills, in the order they were stored. Kept in memory: a
        call reads only the fills stored since the previous one."""
        for f in await self.runtime.store.order_fills(self.name, after_id=self._book_fill_id):
            self._book.add(f.side, f.quantity, f.price, f.fee, f.ts.timestamp())
            self._book_fill_id = f.id
        return self._book

    # -- one cycle -----------------------------------------------------------------------------------
    def _on_user_event(self, ev: object) -> None:
        """A liquidation or ADL of the grid's market (runtime user events): the exchange closed
        part of the position with its own orders, so the grid's own fills no longer describe it.
        The next cycle cancels every order of the grid and stops it (an event at ERROR): a person
        decides what the account holds next."""
        if (isinstance(ev, UserLiquidation) and ev.exchange == self.client.name and ev.symbol == self.symbol
                and self.state.liquidated is None):
            self.state.liquidated = f"{ev.side.value} {ev.qty} @ {ev.price}"
            log.error("[%s] the exchange liquidated/deleveraged the grid's market: %s", self.name, self.state.liquidated)

    async def cycle(self) -> None:
        """REST sync, gates, invariant, entry management, maybe one new entry (see module doc)."""
        if self.state.liquidated is not None:
            if self.orders.live() or self._backstop_trigger is not None:
                await self._retire_backstop("liquidated/ADL by the exchange")
                for row in self.orders.live():
                    await self.orders.cancel(row)
                self._event(f"liquidated/ADL by the exchange ({self.state.liquidated}): every order cancelled, "
                            "grid stopped; check the account's position", logging.ERROR, EventKind.LIQUIDATION,
                            **self._where(), reason=self.state.liquidated)
            return
        await self.orders.sync()
        bid, ask = await self.fetch_touch()
        price = (bid + ask) / 2
        if self._backstop_may_have_fired(price) and await self._backstop_fired():
            if not self.state.halted:
                self.state.halted = True
                self._event("backstop executed on the exchange: cancel all, flatten the rest, halt", logging.WARNING,
                            EventKind.GRID_STOP, **self._where(), price=price, stop_price=self.cfg.stop_price,
                            reason="backstop")
            await self.flatten("backstop fired")
            return
        if self._stop_breached(price):
            if not self.state.halted:
                self.state.halted = True
                self._event(f"stop price {self.cfg.stop_price} breached at {price}: cancel all, flatten, halt",
                            logging.WARNING, EventKind.GRID_STOP, **self._where(), price=price, stop_price=self.cfg.stop_price)
            await self.flatten("stop price breached")
            return
        if self.state.halted:
            self.state.halted = False
            self._event(f"price {price} back inside the stop price {self.cfg.stop_price}: resuming")
        book = await self.lot_book_now()
        if book.open_qty > 0 and await self._exit_rule(book, price):
            return
        await self.check_invariant()
        await self._manage_entries()
        if self.cfg.boost:
            await self._boost_exits(book, bid, ask)
        await self._maybe_enter(bid, ask, price, book)
        await self.sync_backstop()

    def _stop_breached(self, price: Decimal) -> bool:
        stop = self.cfg.stop_price
        if stop is None:
            return False
        return price <= stop if self.side is Side.BUY else price >= stop

    def _pause_breached(self, price: Decimal) -> bool:
        pause = self.cfg.pause_price
        if pause is None:
            return False
        return price >= pause if self.side is Side.BUY else price <= pause

    async def _exit_rule(self, book: LotBook, price: Decimal) -> bool:
        """Stop loss against the average entry, then max position age: flatten; True when it did."""
        avg = book.avg_entry
        if self.cfg.stop_loss is not None and avg is not None:
            against = (avg - price) / avg if self.side is Side.BUY else (price - avg) / avg
            if against >= self.cfg.stop_loss:
                self._event(f"stop loss: price {price} is {against:.2%} against the average entry {avg:.6f}",
                            logging.WARNING)
                await self.flatten("stop loss")
                return True
        if self.cfg.max_position_age_s is not None and book.oldest_ts is not None:
            age = time.time() - book.oldest_ts
            if age >= self.cfg.max_position_age_s:
                self._event(f"max position age: oldest entry {age:.0f}s old: flatten")
                await self.flatten("max position age")
                return True
        return False

    async def _manage_entries(self) -> None:
        """Cancel entries older than ``entry_timeout_s`` (a partial fill is kept and covered)."""
        now = datetime.now(UTC)
        for row in self.orders.live(OrderRole.ENTRY):
            if (now - row.created_at).total_seconds() >= self.cfg.entry_timeout_s:
                row = await self.orders.cancel(row)
                if row.filled > 0:
                    await self.check_invariant()

    async def _maybe_enter(self, bid: Decimal, ask: Decimal, price: Decimal, book: LotBook) -> None:
        st = self.state
        if self.orders.live(OrderRole.ENTRY):
            return  # one entry resting at a time
        if self.orders.unsettled():
            return  # fills reported but not stored yet: the position (margin, take-profits) is not known
        tps = self.orders.live(OrderRole.TAKE_PROFIT)
        tp_count = len(tps) if not self.cfg.boost else len(book.open_lots)
        fell = tp_count < st.last_tp_count
        st.last_tp_count = tp_count
        if self._pause_breached(price):
            return self._paused(f"pause price {self.cfg.pause_price} reached ({price})", EventKind.GRID_PAUSE, price=price)
        apr = await self._funding_apr()
        if apr is not None and self.cfg.max_funding_apr_against is not None:
            cost = apr if self.side is Side.BUY else -apr
            if cost > self.cfg.max_funding_apr_against:
                return self._paused(f"funding costs the {self.cfg.direction} side {cost:.2%} APR "
                                    f"> {self.cfg.max_funding_apr_against:.2%}")
        if tp_count >= self.cfg.max_orders:
            return self._paused(None)
        qty = self.entry_quantity(price)
        if qty <= 0:
            return self._paused("entry size rounds to zero")
        entry_price = self._entry_price(bid, ask)
        if self.cfg.max_margin_usd is not None:
            # the position once the entry filled, valued at the entry's price (a limit: it fills there)
            margin = (abs(self.orders.position) + qty) * entry_price / self.leverage
            if margin > self.cfg.max_margin_usd:
                return self._paused(f"margin {margin:.2f} USD would exceed max_margin_usd {self.cfg.max_margin_usd}")
        self._paused(None)
        if not fell and time.monotonic() - st.last_entry_at < entry_wait(tp_count, self.cfg.max_orders,
                                                                         self.cfg.wait_time_s):
            return
        if self.cfg.grid_step and tps:
            nearest = min(abs(self._tp_entry_price(tp) - entry_price) for tp in tps)
            if nearest / entry_price < self.cfg.grid_step:
                return
        st.last_entry_at = time.monotonic()
        row = await self.orders.place_limit(self.side, qty, entry_price, OrderRole.ENTRY, post_only=True)
        if row.status in (OrderStatus.REJECTED.value, OrderStatus.CANCELED.value):
            log.info("[%s] entry %s at %s not placed: %s", self.name, qty, entry_price,
                     (row.detail or {}).get("error", row.status))

    def _tp_entry_price(self, tp: OrderRow) -> Decimal:
        """The entry price a take-profit was priced from (its price / (1 +/- take_profit) when
        not recorded)."""
        recorded = (tp.detail or {}).get("entry_price")
        if recorded is not None:
            return Decimal(recorded)
        return (tp.price or Decimal(0)) / self._tp_factor

    def _paused(self, why: str | None, kind: EventKind = EventKind.INFO, **data: object) -> None:
        if why != self.state.paused:
            if why is not None:
                self._event(f"new entries paused: {why}", logging.INFO, kind, **self._where(), **data)
            elif self.state.paused is not None:
                self._event("new entries resumed")
            self.state.paused = why

    def _entry_price(self, bid: Decimal, ask: Decimal) -> Decimal:
        assert self.attrs is not None
        off = self.attrs.tick_size * self.cfg.post_only_offset_ticks
        return bid - off if self.side is Side.BUY else ask + off

    def entry_quantity(self, price: Decimal) -> Decimal:
        """One entry's size in the exchange's base units: ``quantity``, or ``order_notional_usd``
        at ``price``; rounded down to the lot and raised to the exchange's minimum size and
        minimum notional."""
        a = self.attrs
        assert a is not None
        qty = self.cfg.quantity if self.cfg.quantity is not None else self.cfg.order_notional_usd / price  # type: ignore[operator]  # the config requires one of the two
        qty = (qty / a.lot_size).to_integral_value(ROUND_DOWN) * a.lot_size
        floor = a.min_size
        if a.min_notional > 0:
            floor = max(floor, ((a.min_notional / price) / a.lot_size).to_integral_value() * a.lot_size + a.lot_size)
        return max(qty, floor)

    # -- fills and take-profits --------------------------------------------------------------------
    async def _on_fill(self, new: NewFill) -> None:
        """Every newly stored fill: an entry's gets its take-profit now; a take-profit's closes a
        round trip."""
        row, fill = new.row, new.fill
        if row.role == OrderRole.ENTRY:
            if self.cfg.boost:
                return  # boost: exits at market when the target is reached (cycle)
            if self._lock.locked():
                # a decision holds the lock, often with this fill in its own call chain (a cancel
                # that read the fill history): never wait for it; it restores again before letting go
                self._recheck = True
                return
            await self.check_invariant(ref_price=fill.price)
        elif row.role == OrderRole.TAKE_PROFIT:
            self._event(f"take-profit filled {fill.quantity:f} @ {fill.price}")

    @property
    def _tp_factor(self) -> Decimal:
        """Take-profit price / entry price: 1 + take_profit for a buy grid, 1 - take_profit for a sell grid."""
        return Decimal(1) + self.cfg.take_profit if self.side is Side.BUY else Decimal(1) - self.cfg.take_profit

    def _tp_price(self, entry_price: Decimal) -> Decimal:
        return entry_price * self._tp_factor

    async def check_invariant(self, ref_price: Decimal | None = None) -> None:
        """Restore |position| = resting take-profits (within one lot): cover a shortfall with a
        take-profit at ``ref_price`` (the fill's price; else the newest open lot's) x (1 +/-
        take_profit), merged into the newest take-profit when below the minimum order size;
        cancel take-profits in excess. In boost mode nothing rests: nothing to check."""
        if self.cfg.boost:
            return
        async with self._lock:
            await self._restore(ref_price)
            while self._recheck:
                self._recheck = False
                await self._restore(None)

    async def _restore(self, ref_price: Decimal | None) -> None:
        a = self.attrs
        assert a is not None
        held = abs(self.orders.position)
        tps = self.orders.live(OrderRole.TAKE_PROFIT)
        covered = sum((tp.quantity - tp.filled for tp in tps), Decimal(0))
        if covered - held >= a.lot_size:  # orphans: newest first
            for tp in reversed(tps):
                if covered - held < a.lot_size:
                    break
                await self.orders.cancel(tp)
                covered -= tp.quantity - self.orders.rows[tp.id].filled
                self.state.repairs += 1
                self._event(f"invariant: take-profit {tp.client_order_id} ({tp.quantity:f}) exceeds the position "
                            f"{held:f}: cancelled", logging.WARNING, EventKind.HEDGE, **self._where(), action="repair")
            tps = self.orders.live(OrderRole.TAKE_PROFIT)
            covered = sum((tp.quantity - tp.filled for tp in tps), Decimal(0))
        gap = held - covered
        if gap < a.lot_size:
            return
        if ref_price is None:
            book = await self.lot_book_now()
            ref_price = book.open_lots[-1].price if book.open_lots else (await self.fetch_touch())[0]
        # merged into the newest take-profit: below the minimum order size, or max_orders resting
        if tps and (gap < max(a.min_size, a.lot_size) or len(tps) >= self.cfg.max_orders):
            newest = tps[-1]
            await self.orders.cancel(newest)
            newest = self.orders.rows[newest.id]
            if newest.status not in (OrderStatus.CANCELED.value, OrderStatus.FILLED.value):
                return  # not cancelled yet: the next check retries
            held = abs(self.orders.position)
            gap = held - sum((tp.quantity - tp.filled for tp in self.orders.live(OrderRole.TAKE_PROFIT)), Decimal(0))
            rest = newest.quantity - newest.filled if newest.status == OrderStatus.CANCELED.value else Decimal(0)
            if rest > 0 and gap > 0:  # one take-profit for both: priced from their size-weighted entry
                other = max(gap - rest, Decimal(0))
                ref_price = (rest * self._tp_entry_price(newest) + other * ref_price) / (rest + other)
        if gap < max(a.min_size, a.lot_size):
            return  # below the minimum: the next fill is merged with it
        await self._place_tp(gap, ref_price)

    async def _place_tp(self, qty: Decimal, entry_price: Decimal) -> None:
        """A reduce-only post-only take-profit for ``qty``; refused as crossing, re-priced at the
        passive touch up to ``take_profit_reprice_retries`` times, then closed at market."""
        price = self._tp_price(entry_price)
        for _ in range(self.cfg.take_profit_reprice_retries + 1):
            row = await self.orders.place_limit(self.exit_side, qty, price, OrderRole.TAKE_PROFIT, reduce_only=True,
                                                post_only=True, detail={"entry_price": str(entry_price)})
            if row.status != OrderStatus.CANCELED.value and row.status != OrderStatus.REJECTED.value:
                return
            if row.status == OrderStatus.REJECTED.value and "post" not in str((row.detail or {}).get("error", "")).lower():
                self._event(f"take-profit {qty:f} @ {price} rejected: {(row.detail or {}).get('error')}", logging.WARNING)
                break
            bid, ask = await self.fetch_touch()
            price = max(price, ask) if self.exit_side is Side.SELL else min(price, bid)
        self._event(f"take-profit {qty:f} not placed after {self.cfg.take_profit_reprice_retries} re-prices: "
                    "closing at market", logging.WARNING)
        await self.exit_at_market(qty, OrderRole.EXIT)

    async def _boost_exits(self, book: LotBook, bid: Decimal, ask: Decimal) -> None:
        """Boost: exit the open lots whose take-profit price the touch reached, at market."""
        touch = bid if self.exit_side is Side.SELL else ask
        due = sum((lot.qty for lot in book.open_lots
                   if (touch >= self._tp_price(lot.price) if self.side is Side.BUY else touch <= self._tp_price(lot.price))),
                  Decimal(0))
        if due > 0:
            await self.exit_at_market(due, OrderRole.EXIT)

    async def exit_at_market(self, qty: Decimal, role: OrderRole, attempts: int = 3) -> Decimal:
        """Reduce the grid's position by ``qty`` with reduce-only limits 1 % through the touch
        (carrying the grid's client ids, so their fills are the grid's); returns what filled."""
        done = Decimal(0)
        for _ in range(attempts):
            left = min(qty - done, abs(self.orders.position))
            if left < max(self.attrs.min_size, self.attrs.lot_size):  # type: ignore[union-attr]  # loaded before any order
                break
            bid, ask = await self.fetch_touch()
            price = bid * (1 - MARKET_SLIPPAGE) if self.exit_side is Side.SELL else ask * (1 + MARKET_SLIPPAGE)
            before = abs(self.orders.position)
            row = await self.orders.place_limit(self.exit_side, left, price, role, reduce_only=True)
            await self.orders.settle()
            await asyncio.sleep(0)
            await self.orders.drain()
            row = self.orders.rows[row.id]
            if row.status not in (OrderStatus.FILLED.value, OrderStatus.CANCELED.value, OrderStatus.REJECTED.value):
                await self.orders.cancel(row)
            done += before - abs(self.orders.position)
        return done

    async def flatten(self, reason: str) -> None:
        """Take the backstop down (recording it first when it executed), cancel every order of the
        grid, then close its position (as its fills say it is now) at market."""
        async with self._lock:
            await self._retire_backstop(reason)
            for row in self.orders.live():
                await self.orders.cancel(row)
            await self.orders.sync()
            await self.orders.settle()  # fills the exchange reported but not yet stored count too
            await self.orders.drain()
            held = abs(self.orders.position)
            if held > 0:
                filled = await self.exit_at_market(held, OrderRole.FLATTEN)
                self._event(f"flattened {filled:f} of {held:f} ({reason})")

    # -- backstop ----------------------------------------------------------------------------------
    def backstop_price(self) -> Decimal | None:
        """The backstop's trigger (USD): ``stop_price``, else the ``stop_loss`` price from the
        average entry of the open lots; the nearer to the entries when both are set. None: no stop."""
        prices: list[Decimal] = []
        if self.cfg.stop_price is not None:
            prices.append(self.cfg.stop_price)
        if self.cfg.stop_loss is not None and self._book.avg_entry is not None:
            avg = self._book.avg_entry
            prices.append(avg * (1 - self.cfg.stop_loss) if self.side is Side.BUY else avg * (1 + self.cfg.stop_loss))
        if not prices:
            return None
        return max(prices) if self.side is Side.BUY else min(prices)

    async def sync_backstop(self) -> None:
        """Place, resize, move or cancel the backstop when the grid's position or stop changed
        since the last sync (runtime/backstops.py ``sync_single``)."""
        if not self.backstops.enabled or self.holder is None:
            return
        if self.orders.unsettled():
            return  # fills on their way: the position is not known yet
        await self.lot_book_now()
        held = abs(self.orders.position)
        trigger = self.backstop_price() if held > 0 else None
        # without a stop only flat / not flat matters (the "none" row is stored once)
        key = (held if trigger is not None else min(held, Decimal(1)), trigger)
        if self._backstop_synced == key:
            return
        side = self.side if self.orders.position * self.side.sign >= 0 else self.exit_side
        row = await self.backstops.sync_single(
            self.holder, self.client.name, self.symbol, side, held, trigger, leverage=self.leverage,
            stop_source="stop_price" if trigger == self.cfg.stop_price else "stop_loss",
            no_stop_reason="the grid has neither stop_price nor stop_loss")
        if held == 0 or (row is not None and row.state in ("resting", "none")):
            self._backstop_synced = key  # else (refused, no answer) retried next cycle
        self._backstop_trigger = row.trigger_price if row is not None and row.state == "resting" else None

    def _backstop_may_have_fired(self, price: Decimal) -> bool:
        """A backstop fill seen on the stream, or the price within 1 % of (or through) the
        resting trigger: worth asking the exchange's fill history."""
        if self.holder is None or not self.backstops.enabled:
            return False
        if self.backstops.seen_firing(self.holder.id):
            return True
        t = self._backstop_trigger
        if t is None:
            return False
        return price <= t * Decimal("1.01") if self.side is Side.BUY else price >= t * Decimal("0.99")

    async def _absorb(self, hit: Fired) -> None:
        """A backstop's executions as fills of the grid's own (its lots, position and PnL)."""
        await self.orders.adopt(hit.fills, client_order_id=hit.row.client_order_id, role=OrderRole.BACKSTOP,
                                side=Side(hit.row.side), detail={"trigger_price": str(hit.row.trigger_price)})
        self._backstop_synced = None
        self._backstop_trigger = None

    async def _backstop_fired(self) -> bool:
        """Record a backstop that executed (True when one did)."""
        if self.holder is None:
            return False
        hit = await self.backstops.collect_fired(self.holder)
        if hit is None:
            return False
        await self._absorb(hit)
        return True

    async def _retire_backstop(self, reason: str) -> None:
        """Before the grid closes its position itself: record an executed backstop, cancel the rest."""
        if self.holder is None or not self.backstops.enabled:
            return
        for hit in await self.backstops.retire(self.holder, reason):
            await self._absorb(hit)
        self._backstop_synced = None
        self._backstop_trigger = None

    # -- funding -----------------------------------------------------------------------------------
    async def sync_funding(self) -> int:
        """Store the funding payments of the grid's market since it started (the exchange's
        payments on the account's position in the symbol: exact when the grid alone trades it)."""
        if self.holder is None:
            return 0
        return await self.runtime.sync_funding_leg(self.holder.id, self.client.name, self.symbol,
                                                   self.holder.opened_at, label=self.name)

    # -- report ------------------------------------------------------------------------------------
    async def report(self) -> dict[str, Any]:
        """Orders, round trips, realized PnL (price PnL of closed round trips - fees + funding),
        fees, funding and open exposure; money USD, sizes base units."""
        from .grid_report import grid_report

        return await grid_report(self)
