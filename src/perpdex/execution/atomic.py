"""The atomic two-leg executor: both legs of a delta-neutral pair fill, or the pair is brought back
to no net exposure — under faults (rejections, partial fills, lost or late answers, 429s).

One execution (open or close, the same code; closing uses reduce-only orders):

1. Start positions of both legs are read (the reference for the final check), or taken from the
   caller when it has just read them (pre-flight).
2. Both legs are sent concurrently (:mod:`.tactics`: limit at the BBO ± offset, re-priced inside
   the spread, market fallback). Fills land in one :class:`~.fills.FillLedger` (REST order polls,
   and the user-data stream where the client has one running), persisted through ``on_fill``.
3. A monitor watches the net exposure of the pair from the ledger. Once it has been non-zero for
   ``unhedged_timeout_s``, both legs stop working limit orders and go to market; a leg that fails
   stops the other one (abort) so that it does not add exposure that would be undone right after.
4. Repair: a remaining imbalance is *hedged* on the lagging leg (trading on towards its target) or
   *rolled back* on the leading one (trading back towards its start), whichever is estimated to
   cost less (taker fee + half the spread); if that order fails, the other. Hedges are retries and
   must fit under the fee cap ``max_retry_fees_usd``; rollbacks always go (they remove exposure).
5. Closing: before anything is sent, each leg's quantity is cut to what its market can actually
   reduce (lot-rounded, at least the minimum order size; reduce-only orders are exempt from the
   minimum notional) and never past what the other leg can still be reduced to
   (:func:`close_quantities`): a remainder no order can close stays hedged on both exchanges and
   is reported as ``PairResult.dust``, never closed on one side only. :meth:`AtomicPairExecutor.sweep_dust`
   closes such a pair later (both legs topped up to a tradable size, then closed together).
6. Verification: every open order of the symbol on both exchanges is canceled (an order whose
   answer was lost is found there), positions are read back from both exchanges, any position
   change the ledger cannot explain is recorded as an unattributed fill, and if the net exposure
   is still above one lot step, the repair runs again from the real positions.

Units: quantities are base units of each exchange's market (``ContractAttributes.multiplier``
converts to canonical units), exposure is canonical base units, fees USD.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any, NamedTuple

from ..errors import AuthenticationError, ExchangeError, InvalidOrder, NetworkError, OrderNotFound
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, OrderInfo, Side, round_to_step
from .fills import FillCallback, FillLedger
from .price_provider import PriceProvider
from .sizing import common_step
from .tactics import FeeBudget, LegExecutor, LegResult, TacticConfig, fee_rate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionConfig:
    """``tactic``: how each leg trades; ``unhedged_timeout_s``: longest net exposure tolerated
    before both legs go to market; ``max_retry_fees_usd``: cap on the fees of retries (re-priced
    and market fallback orders after a leg's first order, hedges), None = no cap;
    ``repair_rounds``: hedge/rollback rounds per check; ``verify_rounds``: read-back checks
    (positions, open orders) before giving up."""

    tactic: TacticConfig = field(default_factory=TacticConfig)
    unhedged_timeout_s: float = 2.0
    max_retry_fees_usd: Decimal | None = Decimal(5)
    repair_rounds: int = 3
    verify_rounds: int = 3


class Holding(NamedTuple):
    """What one exchange holds (or is left exposed by) in the executed symbol."""

    exchange: str
    qty: Decimal  # signed, base units of that exchange's market


@dataclass
class PairResult:
    """Outcome of opening or closing a pair.

    ``success``: both legs reached their targets and the pair is hedged. ``balanced_qty``: the
    canonical size each leg moved by, hedged (for an open that ended smaller than asked, the size
    actually held). ``naked`` lists the :class:`Holding` s (exchange, signed base-unit exposure) that could not be
    flattened. ``positions``: signed positions read back at the end (exchange units);
    ``net_exposure``: canonical base units the pair gained net (within ``tolerance``, the larger
    canonical lot step of the two markets, it counts as hedged). ``retry_fees``: USD charged to the fee cap, ``fee_cap_hit``: a
    retry was refused for it (the caller should put the opportunity on cooldown).
    ``max_unhedged_s``: the longest stretch the pair carried net exposure during the execution.
    ``open_orders_left``: open orders of the symbol found after the clean-up (0 normally).

    ``dust``: a close that could not finish because a remainder is below what its market can
    trade (lot, minimum order size) and was therefore left hedged on both legs: a :class:`Holding` (exchange, signed
    base units of that exchange still held beyond the caller's target) for each leg holding
    some, empty otherwise. Such a close is not ``success`` unless what is left is within
    ``tolerance`` (a lone sub-lot remainder), and leaves no ``naked`` exposure; :meth:`AtomicPairExecutor.sweep_dust` closes the pair later.
    ``long.requested``/``short.requested`` are the quantities the legs set out to trade after
    that rule (at most what the caller asked)."""

    success: bool
    long: LegResult
    short: LegResult
    rollback: list[LegResult] = field(default_factory=list)
    reason: str | None = None
    naked: list[Holding] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)
    net_exposure: Decimal = Decimal(0)
    tolerance: Decimal = Decimal(0)
    balanced_qty: Decimal = Decimal(0)
    retry_fees: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fee_cap_hit: bool = False
    max_unhedged_s: float = 0.0
    open_orders_left: int = 0
    ledger: FillLedger | None = None
    dust: list[Holding] = field(default_factory=list)


class CloseLeg(NamedTuple):
    """One leg of a close, as :func:`close_quantities` reads it."""

    attrs: ContractAttributes  # the leg's market
    start: Decimal  # signed position before the close, base units
    side: Side  # the side that closes it
    asked: Decimal  # quantity the caller asked to trade, base units


@dataclass
class _Plan:
    client: ExchangeClient
    side: Side
    qty: Decimal
    reduce_only: bool
    attrs: ContractAttributes
    start: Decimal = Decimal(0)
    leg: LegResult | None = None
    since: float = 0.0  # epoch seconds just before this execution sent anything
    asked: Decimal = Decimal(0)  # the caller's quantity (``qty``: what the close rule lets the leg trade)

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def target(self) -> Decimal:
        return self.start + self.qty * self.side.sign


class _RepairOption(NamedTuple):
    """One order (or two) :meth:`AtomicPairExecutor._repair` may send to shrink the exposure."""

    cost: Decimal  # estimated, USD (0 when no price was available)
    kind: str  # "hedge" (towards the plan's target) or "rollback" (back to its start)
    plan: _Plan
    qty: Decimal  # base units, traded on ``plan``'s exchange
    reduce_only: bool
    past_goal: bool  # the order goes past the goal: taken only after every option within one
    trim: Decimal  # base units traded back reduce-only afterwards (two orders), else 0


def close_quantities(legs: list[CloseLeg]) -> list[Decimal]:
    """The quantities (exchange base units, >= 0) that the two legs of a close may trade, one
    per :class:`CloseLeg` (market, signed start position, the closing side, quantity asked).

    A leg reduces at most its position on the side the close reduces, rounded down to its lot,
    and not at all when that is below its market's minimum order size (reduce-only orders are
    exempt from the minimum notional). Neither leg goes below what the other can still be reduced
    to (canonical units, ``multiplier``): what one leg cannot trade, the other keeps, so the
    remainder stays hedged on both exchanges (a leg whose partner holds nothing, as after a
    liquidation, is not held back). Repeated until neither changes (each pass only lowers)."""

    def held(leg: CloseLeg) -> Decimal:
        return max(-leg.start * leg.side.sign, Decimal(0))

    def tradable(c: ContractAttributes, q: Decimal) -> Decimal:
        q = c.round_size(q) if q > 0 else Decimal(0)
        return q if q > 0 and q >= c.min_size else Decimal(0)

    qty = [tradable(leg.attrs, min(leg.asked, held(leg))) for leg in legs]
    for _ in range(2 * len(legs) + 2):
        changed = False
        for i, leg in enumerate(legs):
            other = legs[1 - i]
            floor = (held(other) - qty[1 - i]) * other.attrs.multiplier  # canonical the other leg keeps
            q = tradable(leg.attrs, min(qty[i], held(leg) - floor / leg.attrs.multiplier))
            if q != qty[i]:
                qty[i], changed = q, True
        if not changed:
            break
    return qty


class AtomicPairExecutor:
    """``fee_overrides[exchange]`` = {"maker": fraction, "taker": fraction} from config."""

    def __init__(
        self,
        prices: PriceProvider,
        config: ExecutionConfig | None = None,
        *,
        fee_overrides: dict[str, dict[str, Decimal]] | None = None,
        client_ids: Callable[[], str] | None = None,
    ) -> None:
        self.prices = prices
        self.cfg = config or ExecutionConfig()
        self.fee_overrides = fee_overrides or {}
        self.client_ids = client_ids  # the calling strategy's client order ids (None: random ones)

    def _leg(self, client: ExchangeClient, ledger: FillLedger, budget: FeeBudget) -> LegExecutor:
        return LegExecutor(client, self.prices, ledger, budget, self.cfg.tactic,
                           fee_overrides=self.fee_overrides.get(client.name), client_ids=self.client_ids)

    async def _call(self, aw: Any) -> Any:
        try:
            return await asyncio.wait_for(aw, self.cfg.tactic.order_timeout_s)
        except TimeoutError:
            raise NetworkError(f"no answer within {self.cfg.tactic.order_timeout_s:.2f}s") from None

    async def _retrying(self, factory: Callable[[], Any], attempts: int = 5) -> Any:
        """A read (or cancel) that must get through: retried after network errors and 429s."""
        for attempt in range(attempts):
            try:
                return await self._call(factory())
            except (OrderNotFound, InvalidOrder, AuthenticationError):
                raise
            except ExchangeError:  # network, 429 and unclassified answers: try again
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(self.cfg.tactic.rate_limit_backoff_s * 2**attempt)

    # -- public API ------------------------------------------------------------------------------
    async def open(self, long: ExchangeClient, short: ExchangeClient, symbol: str, long_qty: Decimal,
                   short_qty: Decimal, *, on_fill: FillCallback | None = None, use_limit: bool = True,
                   start_positions: tuple[Decimal, Decimal] | None = None) -> PairResult:
        """Buy ``long_qty`` on ``long`` and sell ``short_qty`` on ``short`` at the same time; each
        in that exchange's units (the same canonical amount, see ``PreflightResult``).
        ``start_positions``: the (long, short) signed positions just read (exchange units, e.g.
        ``PreflightResult.long_position``/``short_position`` when nothing traded the symbol since),
        used as the reference instead of reading them again before the orders go out."""
        return await self._execute(long, short, symbol, long_qty, short_qty, False, on_fill, use_limit, start_positions)

    async def close(self, long: ExchangeClient, short: ExchangeClient, symbol: str, long_qty: Decimal,
                    short_qty: Decimal, *, on_fill: FillCallback | None = None, use_limit: bool = True) -> PairResult:
        """Close both legs together with reduce-only orders (``*_qty`` base units, positive; a
        zero quantity leaves that leg alone)."""
        return await self._execute(long, short, symbol, long_qty, short_qty, True, on_fill, use_limit)

    async def sweep_dust(self, long: ExchangeClient, short: ExchangeClient, symbol: str,
                         long_qty: Decimal | None = None, short_qty: Decimal | None = None, *,
                         on_fill: FillCallback | None = None, max_fee_usd: Decimal | None = None) -> PairResult:
        """Close a hedged dust pair (``PairResult.dust`` of an earlier close): a remainder below
        a market's minimum order size cannot be closed by itself, so both legs are first topped
        up by the smallest canonical size both markets take as an opening market order (a multiple
        of both lots, at least both minimum sizes and minimum notionals at the touch, plus one
        common lot of margin where a minimum notional applies), then both legs are closed
        together (:meth:`close` of everything they hold then, market orders).

        ``long_qty``/``short_qty``: base units (exchange units, positive) the long leg holds and
        the short leg is short; None: read from the exchanges. ``max_fee_usd``: cap on the
        estimated taker fees of the sweep's four orders, USD (None: the executor's
        ``max_retry_fees_usd``, None there too: no cap); over it nothing is sent and the result
        has ``fee_cap_hit`` set and the pair in ``dust``.

        Returns the close's :class:`PairResult` with the top-up's legs and repairs first in
        ``rollback`` and both executions' ``fees``/``retry_fees``; ``success`` when both legs
        ended flat and hedged. A top-up that left naked exposure is returned as it is (no close).
        Raises what :meth:`open`/:meth:`close` raise (an ``on_fill`` error)."""
        la, sa = await asyncio.gather(long.contract_attributes(symbol), short.contract_attributes(symbol))
        tol = max(la.canonical_lot, sa.canonical_lot)
        if long_qty is None or short_qty is None:
            pos_l, pos_s = await asyncio.gather(self._position(_Plan(long, Side.SELL, Decimal(0), True, la)),
                                                self._position(_Plan(short, Side.BUY, Decimal(0), True, sa)))
        else:
            pos_l, pos_s = long_qty, -short_qty
        held_l, held_s = max(pos_l, Decimal(0)), max(-pos_s, Decimal(0))
        positions = {long.name: pos_l, short.name: pos_s}
        idle = PairResult(False, LegResult(long.name, symbol, Side.SELL, held_l),
                          LegResult(short.name, symbol, Side.BUY, held_s), positions=positions, tolerance=tol,
                          net_exposure=pos_l * la.multiplier + pos_s * sa.multiplier)
        if held_l == 0 and held_s == 0:
            idle.success = True
            return idle
        (_, ask), (bid, _) = await asyncio.gather(self._retrying(lambda: self.prices.fetch_bbo(long, symbol)),
                                                  self._retrying(lambda: self.prices.fetch_bbo(short, symbol)))
        step = common_step(la.canonical_lot, sa.canonical_lot)
        need = max(la.min_size * la.multiplier, sa.min_size * sa.multiplier, step,
                   la.min_notional / ask * la.multiplier if ask > 0 else Decimal(0),
                   sa.min_notional / bid * sa.multiplier if bid > 0 else Decimal(0))
        top = round_to_step(need, step, ROUND_UP) + (step if la.min_notional > 0 or sa.min_notional > 0 else 0)
        ql, qs = top / la.multiplier, top / sa.multiplier
        estimate = (ask * (2 * ql + held_l) * fee_rate(la, "taker", self.fee_overrides.get(long.name))
                    + bid * (2 * qs + held_s) * fee_rate(sa, "taker", self.fee_overrides.get(short.name)))
        cap = max_fee_usd if max_fee_usd is not None else self.cfg.max_retry_fees_usd
        if cap is not None and estimate > cap:
            idle.fee_cap_hit = True
            idle.dust = [Holding(n, q) for n, q in positions.items() if q != 0]
            idle.reason = f"sweeping the dust pair would cost about {estimate:.4f} USD in fees, over the cap {cap}"
            log.warning("%s: %s", symbol, idle.reason)
            return idle
        log.warning("%s: sweeping dust pair %s: topping up both legs by %s (canonical), then closing", symbol,
                    positions, top)
        opened = await self.open(long, short, symbol, ql, qs, on_fill=on_fill, use_limit=False,
                                 start_positions=(pos_l, pos_s))
        if opened.naked:
            opened.reason = f"dust sweep top-up: {opened.reason}"
            return opened
        pos = opened.positions
        closed = await self.close(long, short, symbol, max(pos[long.name], Decimal(0)), max(-pos[short.name], Decimal(0)),
                                  on_fill=on_fill, use_limit=False)
        closed.rollback[:0] = [opened.long, opened.short, *opened.rollback]
        closed.fees += opened.fees
        closed.retry_fees += opened.retry_fees
        closed.fee_cap_hit = closed.fee_cap_hit or opened.fee_cap_hit
        closed.max_unhedged_s = max(closed.max_unhedged_s, opened.max_unhedged_s)
        return closed

    # -- one execution ---------------------------------------------------------------------------
    async def _execute(self, long: ExchangeClient, short: ExchangeClient, symbol: str, long_qty: Decimal,
                       short_qty: Decimal, closing: bool, on_fill: FillCallback | None, use_limit: bool,
                       start_positions: tuple[Decimal, Decimal] | None = None) -> PairResult:
        la, sa = await asyncio.gather(long.contract_attributes(symbol), short.contract_attributes(symbol))
        plans = [
            _Plan(long, Side.SELL if closing else Side.BUY, long_qty, closing, la),
            _Plan(short, Side.BUY if closing else Side.SELL, short_qty, closing, sa),
        ]
        starts = start_positions or await asyncio.gather(*(self._position(p) for p in plans))
        for p, s in zip(plans, starts):
            p.start = s
            p.since = time.time() - 1.0
            p.asked = p.qty
        if closing:
            for p, q in zip(plans, close_quantities(
                    [CloseLeg(p.attrs, p.start, p.side, p.qty) for p in plans])):
                if q != p.attrs.round_size(p.qty):
                    log.warning("%s: %s can close %s of %s (market minimum %s, other leg): the rest stays hedged",
                                symbol, p.name, q, p.qty, p.attrs.min_size)
                p.qty = q
        ledger = FillLedger(on_fill)
        budget = FeeBudget(self.cfg.max_retry_fees_usd)
        tol = max(la.canonical_lot, sa.canonical_lot)
        for p in plans:
            p.leg = LegResult(p.name, symbol, p.side, p.qty)
        result = PairResult(False, plans[0].leg, plans[1].leg, tolerance=tol, ledger=ledger)  # type: ignore[arg-type]  # legs set just above
        unlisten = self._listen_streams(plans, symbol, ledger)
        urgent, abort = asyncio.Event(), asyncio.Event()
        monitor = asyncio.create_task(self._monitor(plans, symbol, ledger, tol, urgent, result))
        try:
            await self._legs(plans, symbol, ledger, budget, urgent, abort, use_limit)
            uncertain = any(p.leg is not None and p.leg.uncertain for p in plans)
            if not uncertain and abs(self._exposure_ledger(plans, symbol, ledger)) > tol:
                # the ledger knows every order: repair now; otherwise from the real positions below
                await self._repair(plans, symbol, ledger, budget, result, None, tol)
            await self._verify(plans, symbol, ledger, budget, result, tol)
            if not closing and self._dust(plans, result):
                await self._top_up(plans, symbol, ledger, budget, result, tol)
        finally:
            monitor.cancel()
            failed = await unlisten()
        if failed is not None:
            raise failed  # a stream fill could not be persisted, as a REST one would raise
        result.retry_fees = budget.spent
        result.fee_cap_hit = budget.hit
        result.fees = ledger.fees()
        self._conclude(plans, result, tol)
        return result

    async def _legs(self, plans: list[_Plan], symbol: str, ledger: FillLedger, budget: FeeBudget,
                    urgent: asyncio.Event, abort: asyncio.Event, use_limit: bool) -> None:
        async def run(p: _Plan) -> None:
            assert p.leg is not None
            if p.qty <= 0:
                return
            await self._leg(p.client, ledger, budget).execute(
                symbol, p.side, p.qty, reduce_only=p.reduce_only, use_limit=use_limit, urgent=urgent, abort=abort,
                leg=p.leg)
            c = p.attrs
            rest = c.round_size(p.qty - p.leg.filled)
            if (rest >= max(c.min_size, c.lot_size) and (p.leg.error or p.leg.uncertain)) or (p.reduce_only and rest > 0):
                # this leg will not complete (a closing leg that stopped short, even by less than
                # its market's minimum, stays there): the other one must not go further
                urgent.set()
                abort.set()

        await asyncio.gather(*(run(p) for p in plans))

    @staticmethod
    def _dust(plans: list[_Plan], result: PairResult) -> bool:
        """A hedged pair smaller than one leg's minimum order size (partial fills): it could
        never be closed there."""
        pos = result.positions
        return bool(pos) and any(0 < abs(pos[p.name] - p.start) < p.attrs.min_size for p in plans)

    async def _top_up(self, plans: list[_Plan], symbol: str, ledger: FillLedger, budget: FeeBudget,
                      result: PairResult, tol: Decimal) -> None:
        """Complete both legs to their targets with market orders (retries: under the fee cap),
        then check again."""
        log.warning("%s: hedged pair below a minimum order size: completing both legs", symbol)

        async def leg(p: _Plan) -> None:
            left = p.attrs.round_size(abs(p.target - result.positions[p.name]))
            if left > 0:
                result.rollback.append(await self._leg(p.client, ledger, budget).execute(
                    symbol, p.side, left, reduce_only=False, use_limit=False, retry=True))

        await asyncio.gather(*(leg(p) for p in plans))
        await self._verify(plans, symbol, ledger, budget, result, tol)

    # -- exposure --------------------------------------------------------------------------------
    @staticmethod
    def _exposure(plans: list[_Plan], positions: dict[str, Decimal]) -> Decimal:
        """Net canonical base units the pair holds beyond its targets (0 = hedged). A balanced plan's
        targets net to its start, so this is what it gained since the start; a one-leg close (the
        other leg liquidated) starts unhedged and is hedged once that leg reaches its target."""
        return sum(((positions[p.name] - p.target) * p.attrs.multiplier for p in plans), Decimal(0))

    def _exposure_ledger(self, plans: list[_Plan], symbol: str, ledger: FillLedger) -> Decimal:
        return self._exposure(plans, self._ledger_positions(plans, symbol, ledger))

    @staticmethod
    def _ledger_positions(plans: list[_Plan], symbol: str, ledger: FillLedger) -> dict[str, Decimal]:
        return {p.name: p.start + ledger.net(p.name, symbol) for p in plans}

    async def _monitor(self, plans: list[_Plan], symbol: str, ledger: FillLedger, tol: Decimal,
                       urgent: asyncio.Event, result: PairResult) -> None:
        """Times net exposure seen in the ledger; past ``unhedged_timeout_s`` both legs go to market."""
        since: float | None = None
        interval = min(self.cfg.tactic.poll_interval_s, self.cfg.unhedged_timeout_s / 4) or 0.01
        while True:
            now = time.monotonic()
            if abs(self._exposure_ledger(plans, symbol, ledger)) > tol:
                since = since if since is not None else now
                result.max_unhedged_s = max(result.max_unhedged_s, now - since)
                if now - since >= self.cfg.unhedged_timeout_s and not urgent.is_set():
                    log.warning("%s: unhedged for %.2fs: both legs go to market", symbol, now - since)
                    urgent.set()
            else:
                since = None
            await asyncio.sleep(interval)

    async def _position(self, p: _Plan) -> Decimal:
        snap = await self._retrying(lambda: p.client.fetch_position(p.attrs.symbol))
        return snap.quantity if snap is not None else Decimal(0)

    # -- repair ----------------------------------------------------------------------------------
    async def _repair(self, plans: list[_Plan], symbol: str, ledger: FillLedger, budget: FeeBudget,
                      result: PairResult, positions: dict[str, Decimal] | None, tol: Decimal) -> None:
        """Hedge on the lagging leg or roll back on the leading one, cheaper first, until the
        exposure is within ``tol`` (``positions``: the real ones when known, else the ledger's)."""
        for _ in range(self.cfg.repair_rounds):
            pos = positions if positions is not None else self._ledger_positions(plans, symbol, ledger)
            positions = None
            d = self._exposure(plans, pos)
            if abs(d) <= tol:
                return
            side = Side.SELL if d > 0 else Side.BUY
            options: list[_RepairOption] = []
            for p in plans:
                options.extend(await self._options(p, pos[p.name], side, abs(d)))
            # past a goal (or in two orders) only when nothing before one worked: after them
            options.sort(key=lambda o: (o.past_goal, o.cost))
            for o in options:
                p = o.plan
                before = self._exposure_ledger(plans, symbol, ledger)
                log.warning("%s: exposure %s: %s %s %s on %s%s (est. cost %.4f USD)", symbol, d, o.kind, side.value, o.qty,
                            p.name, f", then {o.trim} back" if o.trim else "", o.cost)
                leg = await self._leg(p.client, ledger, budget).execute(
                    symbol, side, o.qty, reduce_only=o.reduce_only, use_limit=False, retry=o.kind == "hedge")
                leg.error = f"{o.kind}: {leg.error}" if leg.error else None
                result.rollback.append(leg)
                back = p.attrs.round_size(leg.filled - (o.qty - o.trim)) if o.trim else Decimal(0)
                if back > 0 and back >= p.attrs.min_size and not leg.uncertain:
                    # the part past the goal, reduce-only (exempt from the minimum notional)
                    trimmed = await self._leg(p.client, ledger, budget).execute(
                        symbol, side.opposite, back, reduce_only=True, use_limit=False, retry=o.kind == "hedge")
                    trimmed.error = f"{o.kind} trim: {trimmed.error}" if trimmed.error else None
                    result.rollback.append(trimmed)
                    leg.uncertain = leg.uncertain or trimmed.uncertain
                if abs(self._exposure_ledger(plans, symbol, ledger)) < abs(before) or leg.uncertain:
                    break

    async def _options(self, p: _Plan, cur: Decimal, side: Side, exposure: Decimal
                       ) -> list[_RepairOption]:
        """The :class:`_RepairOption` s for trading ``side`` on ``p``'s exchange to remove
        ``exposure`` canonical units. A quantity below the market's minimum size (or, unless
        reduce-only, its minimum notional) is raised to it when there is room: the overshoot is removed by the next round on the other leg (dust left by partial
        fills is never stuck). When the room before the goal is too small for any order the market
        takes, the smallest one goes past the goal if that still shrinks the exposure and keeps
        the position on its side (never a flip): the repair takes such an option only when no
        other leg has one within its goals. When no single order helps (the room before the goal
        is below what an opening order needs: minimum size or notional, and nothing past it shrinks
        the exposure), two orders on the same leg: the smallest opening order the market takes,
        then ``trim`` (base units, reduce-only, at least the minimum size) back in the other
        direction, so that the leg ends where the room allowed; taken after every other option
        (a leg closed in full whose partner was refused is re-opened this way, never left naked).
        An order the market would refuse is no option."""
        c = p.attrs
        try:
            bid, ask = await self._call(self.prices.fetch_bbo(p.client, c.symbol))
        except Exception:  # noqa: BLE001 - no price: still an option, its cost unknown (0)
            bid = ask = Decimal(0)
        touch = ask if side is Side.BUY else bid
        taker = fee_rate(c, "taker", self.fee_overrides.get(p.name))
        need = c.round_size(exposure / c.multiplier + c.lot_size / 2)  # nearest lot

        def reduces(q: Decimal) -> bool:
            return cur * side.sign < 0 and q <= abs(cur)

        def tradable(q: Decimal) -> bool:
            """The market takes an order of ``q`` (the notional is unknown without a price)."""
            return q > 0 and q >= c.min_size and (reduces(q) or c.min_notional <= 0 or touch <= 0
                                                  or q * touch >= c.min_notional)

        out: list[_RepairOption] = []
        for kind, goal in (("hedge", p.target), ("rollback", p.start)):
            room = (goal - cur) * side.sign  # how far ``side`` may go before passing the goal
            if room <= 0:
                continue
            qty = max(need, c.min_size)
            if not reduces(qty) and c.min_notional > 0 and touch > 0 and qty * touch < c.min_notional:
                qty = round_to_step(c.min_notional / touch, c.lot_size, ROUND_UP) + c.lot_size
            smallest = round_to_step(qty, c.lot_size, ROUND_UP)
            qty = min(smallest, c.round_size(room))
            past_goal = not tradable(qty)
            if past_goal:
                # no order the market takes fits before the goal: the smallest one (with, else
                # without the lot of margin over the minimum notional) past it, if that helps
                past = [q for q in (smallest, smallest - c.lot_size) if tradable(q)
                        and (cur + q * side.sign) * cur > 0 and q * c.multiplier < 2 * exposure]
                if not past:
                    two = self._two_orders(c, cur, side, min(need, c.round_size(room)), touch, tradable)
                    if two is not None:
                        qty, trim = two
                        cost = (qty + trim) * (touch * taker + (ask - bid) / 2)
                        out.append(_RepairOption(cost, kind, p, qty, reduces(qty), True, trim))
                    continue
                qty = past[0]  # the next round removes the overshoot
            reduce_only = reduces(qty)
            overshoot = max(qty - need, Decimal(0))
            cost = (qty + overshoot) * (touch * taker + (ask - bid) / 2)
            out.append(_RepairOption(cost, kind, p, qty, reduce_only, past_goal, Decimal(0)))
        return out

    @staticmethod
    def _two_orders(c: ContractAttributes, cur: Decimal, side: Side, move: Decimal, touch: Decimal,
                    tradable: Callable[[Decimal], bool]) -> tuple[Decimal, Decimal] | None:
        """(opening quantity, reduce-only quantity back) that moves a position of ``cur`` by
        ``move`` base units towards ``side`` when no single order of ``move`` is taken: the first
        order at least the minimum size and notional (one lot of margin over it), the second at
        least the minimum size; None when there is no such pair (no price for the notional, or
        the first order would not leave a position on ``side`` to reduce)."""
        if move <= 0 or (c.min_notional > 0 and touch <= 0):
            return None
        first = max(move, c.min_size)
        if c.min_notional > 0:
            first = max(first, round_to_step(c.min_notional / touch, c.lot_size, ROUND_UP) + c.lot_size)
        first = round_to_step(first, c.lot_size, ROUND_UP)
        if 0 < first - move < c.min_size:
            first = round_to_step(move + c.min_size, c.lot_size, ROUND_UP)
        back = first - move
        after = cur + first * side.sign
        if not tradable(first) or after * side.sign <= 0 or back > abs(after) or (back > 0 and back < c.min_size):
            return None
        return first, back

    # -- verification ----------------------------------------------------------------------------
    async def _verify(self, plans: list[_Plan], symbol: str, ledger: FillLedger, budget: FeeBudget,
                      result: PairResult, tol: Decimal) -> None:
        for _ in range(self.cfg.verify_rounds):
            await asyncio.gather(*(self._clean_orders(p, symbol, ledger) for p in plans))
            positions = dict(zip([p.name for p in plans], await asyncio.gather(*(self._position(p) for p in plans))))
            await self._attribute(plans, symbol, ledger, positions)
            result.positions = positions
            result.net_exposure = self._exposure(plans, positions)
            if abs(result.net_exposure) <= tol:
                break
            await self._repair(plans, symbol, ledger, budget, result, positions, tol)
        left = await asyncio.gather(*(self._open_orders(p, symbol) for p in plans))
        result.open_orders_left = sum(len(o) for o in left)

    async def _open_orders(self, p: _Plan, symbol: str) -> list[OrderInfo]:
        return await self._retrying(lambda: p.client.fetch_open_orders(symbol))

    async def _clean_orders(self, p: _Plan, symbol: str, ledger: FillLedger) -> None:
        """Cancel every open order of ``symbol`` (ours: the executor owns the symbol while it runs)
        and record what they filled."""
        for o in await self._open_orders(p, symbol):
            try:
                await self._retrying(functools.partial(p.client.cancel_order, symbol, o.order_id))
            except OrderNotFound:
                pass
            info = await self._leg(p.client, ledger, FeeBudget(None)).fetch_final_order(symbol, o.order_id) or o
            c = p.attrs
            await ledger.reconcile_order(p.name, symbol, info.side, info.order_id, info.filled_size, info.average_price,
                                         info.fee or None, "maker", fallback_price=info.price or Decimal(0),
                                         fee_rate=fee_rate(c, "maker", self.fee_overrides.get(p.name)))

    async def _attribute(self, plans: list[_Plan], symbol: str, ledger: FillLedger, positions: dict[str, Decimal]) -> None:
        """Record position changes no known order explains (orders whose answer was lost): from
        the exchange's fill history first (real order and trade ids, prices and fees), else as an
        unattributed fill priced at the touch."""
        for p in plans:
            unexplained = positions[p.name] - (p.start + ledger.net(p.name, symbol))
            if unexplained == 0:
                continue
            if await self._from_history(p, symbol, ledger):
                unexplained = positions[p.name] - (p.start + ledger.net(p.name, symbol))
                if unexplained == 0:
                    continue
            side = Side.BUY if unexplained > 0 else Side.SELL
            c = p.attrs
            try:
                bid, ask = await self._call(self.prices.fetch_bbo(p.client, symbol))
                price = ask if side is Side.BUY else bid
            except Exception:  # noqa: BLE001 - priced from the entry when no book is available
                price = Decimal(0)
            qty = abs(unexplained)
            log.warning("%s %s: position moved %s more than the known fills; recorded as unattributed",
                        p.name, symbol, unexplained)
            await ledger.add_unattributed(p.name, symbol, side, qty, price,
                                          qty * price * fee_rate(c, "taker", self.fee_overrides.get(p.name)))

    async def _from_history(self, p: _Plan, symbol: str, ledger: FillLedger) -> bool:
        """Record the trades of ``symbol`` in ``p``'s fill history since the execution began whose
        orders the ledger does not know (each trade id once); True if any was added."""
        try:
            fills = await self._call(p.client.fetch_fills(symbol))
        except Exception as exc:  # noqa: BLE001 - the touch-priced fallback still records the change
            log.warning("%s %s: fill history unavailable (%s); pricing the unexplained change at the touch",
                        p.name, symbol, exc)
            return False
        added = False
        for f in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
            if f.ts < p.since or f.liquidation or ledger.knows_order(p.name, str(f.order_id)):
                continue
            rec = await ledger.add_trade(p.name, symbol, f.side, str(f.order_id), str(f.trade_id), f.qty, f.price,
                                         f.fee, f.liquidity, f.ts, source="history")
            if rec is not None:
                log.warning("%s %s: recovered fill of unanswered order %s from the fill history: %s %s @ %s",
                            p.name, symbol, f.order_id, f.side.value, f.qty, f.price)
                added = True
        return added

    def _conclude(self, plans: list[_Plan], result: PairResult, tol: Decimal) -> None:
        pos = result.positions or {p.name: p.start for p in plans}
        moved = [abs(pos[p.name] - p.start) * p.attrs.multiplier for p in plans]
        result.balanced_qty = min(moved)
        at_target = all(abs(pos[p.name] - p.start - p.asked * p.side.sign) * p.attrs.multiplier <= tol for p in plans)
        hedged = abs(result.net_exposure) <= tol
        result.success = at_target and hedged and result.open_orders_left == 0
        if hedged and all(p.reduce_only for p in plans):
            left = [(p, pos[p.name] - (p.start + p.asked * p.side.sign)) for p in plans]
            if any(p.attrs.round_size(abs(q)) < max(p.attrs.min_size, p.attrs.lot_size)
                   for p, q in left if q * p.side.sign < 0):  # a rest no order of that market can close
                result.dust = [Holding(p.name, q) for p, q in left if q != 0]
                log.warning("%s: dust pair left hedged (below a market's minimum order size): %s", plans[0].attrs.symbol,
                            result.dust)
        if not hedged:
            # the leg that moved more carries the exposure
            p = max(plans, key=lambda q: abs(pos[q.name] - q.start) * q.attrs.multiplier)
            result.naked.append(Holding(p.name, result.net_exposure / p.attrs.multiplier))
            log.error("%s: NAKED exposure %s (canonical) left on %s", p.attrs.symbol, result.net_exposure, p.name)
        if not result.success and result.reason is None:
            lp, sp = plans
            result.reason = (
                f"{lp.name} {lp.side.value} {abs(pos[lp.name] - lp.start)}/{lp.qty}"
                f"{' (' + lp.leg.error + ')' if lp.leg and lp.leg.error else ''}, "
                f"{sp.name} {sp.side.value} {abs(pos[sp.name] - sp.start)}/{sp.qty}"
                f"{' (' + sp.leg.error + ')' if sp.leg and sp.leg.error else ''}"
                + ("; hedged" if hedged else f"; net exposure {result.net_exposure}")
                + (f"; dust pair left {result.dust}" if result.dust else "")
                + ("; retry fee cap reached" if result.fee_cap_hit else "")
                + (f"; {result.open_orders_left} open order(s) left" if result.open_orders_left else "")
            )

    # -- user-data streams -----------------------------------------------------------------------
    def _listen_streams(self, plans: list[_Plan], symbol: str, ledger: FillLedger
                        ) -> Callable[[], Awaitable[BaseException | None]]:
        """Feed fills of our orders from each client's running user-data stream into the ledger
        (stream first; the REST polls then only add what the stream did not report). Returns the
        unsubscribe coroutine function: it stops listening, then waits until every stream fill
        taken is recorded and persisted (``on_fill`` awaited), so that the execution never returns
        while a fill is still being stored; it returns the first error ``on_fill`` raised
        (logged), else None."""
        unsubs: list[Callable[[], None]] = []
        pending: set[asyncio.Task[None]] = set()
        for p in plans:
            stream = getattr(p.client, "user_stream", None)
            if stream is None or not getattr(stream, "running", False):
                continue
            leg = p.leg

            def on_event(ev: Any, p: _Plan = p, leg: LegResult | None = leg) -> None:
                trade_id = getattr(ev, "trade_id", None)
                if trade_id is None or getattr(ev, "symbol", None) != symbol or not ledger.knows_order(p.name, str(ev.order_id)):
                    return
                task = asyncio.get_running_loop().create_task(self._stream_fill(p, leg, ledger, ev))
                pending.add(task)
                task.add_done_callback(pending.discard)

            unsubs.append(stream.add_listener(on_event))

        async def unlisten() -> BaseException | None:
            for u in unsubs:
                u()
            failed: BaseException | None = None
            while pending:
                for err in await asyncio.gather(*list(pending), return_exceptions=True):
                    if isinstance(err, BaseException) and failed is None:
                        log.error("%s: recording a user-stream fill failed: %r", symbol, err)
                        failed = err
            return failed

        return unlisten

    async def _stream_fill(self, p: _Plan, leg: LegResult | None, ledger: FillLedger, ev: Any) -> None:
        rec = await ledger.add_trade(p.name, ev.symbol, ev.side, str(ev.order_id), str(ev.trade_id), ev.qty, ev.price,
                                     ev.fee, ev.liquidity, ev.ts)
        if rec is not None and leg is not None and ev.side is leg.side and str(ev.order_id) in leg.order_ids \
                and not any(f is rec for f in leg.fills):
            leg.fills.append(rec)
