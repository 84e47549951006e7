"""Order tactics for one leg: a limit order at the BBO ± an offset (post-only when asked),
re-priced a bounded number of times further inside the spread, then a market order for whatever
is left.

* Sizes are rounded down to the lot and checked against the minimum size / notional of the
  exchange's market (:class:`~perpdex.models.ContractAttributes`) before anything is sent.
* Every request to the exchange has a hard timeout (``order_timeout_s``). An order request that
  times out or loses its connection has an **unknown** outcome: the leg stops sending (never a
  duplicate order) and reports ``uncertain``; the atomic executor then settles it from the
  exchange's open orders and positions.
* Fills go into the shared :class:`~perpdex.execution.fills.FillLedger` as soon as they are seen
  (order polls, stream events), so the caller can persist them before anything else and the
  atomic executor sees the exposure of both legs while they are still working.
* Orders after a leg's first one (re-prices, market fallback, hedges) are *retries*: their
  estimated taker fee must fit in the :class:`FeeBudget`, else they are not sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from ..errors import ExchangeError, InsufficientMargin, InvalidOrder, NetworkError, OrderNotFound, RateLimited
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, OrderInfo, OrderResult, Side
from .fills import FillCallback, FillLedger, FillRecord
from .price_provider import PriceProvider

__all__ = ["FeeBudget", "FillCallback", "FillRecord", "LegExecutor", "LegResult", "TacticConfig", "fee_rate",
           "limit_price"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a retry's fee is estimated at this much beyond the touch (walking the book)
FEE_ESTIMATE_SLIPPAGE = Decimal("0.01")


def limit_liquidity(side: Side, limit: Decimal, avg_price: Decimal | None) -> str:
    """Maker or taker for a limit order's fills reported without it (REST order info): a fill at
    a better price than the limit means the order crossed the book on arrival (the market moved
    past it while it was on its way) and paid the taker fee; at the limit, it rested (maker)."""
    if avg_price is None:
        return "maker"
    crossed = avg_price < limit if side is Side.BUY else avg_price > limit
    return "taker" if crossed else "maker"


@dataclass(frozen=True)
class TacticConfig:
    """How one leg trades. ``offset_ticks``: the first limit improves on the touch by this many
    ticks (never crossing); ``post_only``: limit orders are post-only (a cross is rejected or
    canceled by the exchange, then re-priced); ``reprice_retries``: re-posts after the first
    limit order, each further inside the spread; ``limit_timeout_s``: seconds for the whole limit
    phase; ``market_fallback``: a market order for the rest; ``order_timeout_s``: hard timeout of
    one exchange request; ``poll_interval_s``: order status polls while a limit order rests;
    ``rate_limit_retries``: re-sends after a 429; ``rate_limit_backoff_s``: the first back-off
    after a 429 or a failed read, doubled on each further attempt (50 ms x 2^n by default)."""

    offset_ticks: int = 0
    post_only: bool = False
    reprice_retries: int = 2
    limit_timeout_s: float = 3.0
    market_fallback: bool = True
    order_timeout_s: float = 2.0
    poll_interval_s: float = 0.05
    rate_limit_retries: int = 3
    rate_limit_backoff_s: float = 0.05


class FeeBudget:
    """The cap on fees spent retrying (USD), shared by both legs and the hedges of one execution."""

    def __init__(self, cap_usd: Decimal | None) -> None:
        self.cap = cap_usd
        self.spent = Decimal(0)
        self.hit = False

    def allows(self, estimate: Decimal) -> bool:
        if self.cap is None or self.spent + estimate <= self.cap:
            return True
        self.hit = True
        return False

    def charge(self, fee: Decimal) -> None:
        self.spent += fee


@dataclass
class LegResult:
    exchange: str
    symbol: str
    side: Side
    requested: Decimal
    fills: list[FillRecord] = field(default_factory=list)
    error: str | None = None
    uncertain: bool = False  # an order request whose outcome is unknown (timeout, lost answer)
    order_ids: list[str] = field(default_factory=list)
    orders_sent: int = 0

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def avg_price(self) -> Decimal | None:
        q = self.filled
        return sum((f.notional for f in self.fills), Decimal(0)) / q if q > 0 else None

    @property
    def fees(self) -> Decimal:
        return sum((f.fee for f in self.fills), Decimal(0))


def fee_rate(c: ContractAttributes, liquidity: str, overrides: dict[str, Decimal] | None = None) -> Decimal:
    """Fee fraction for ``liquidity`` (maker|taker): config override first, else the catalog."""
    if overrides and overrides.get(liquidity) is not None:
        return overrides[liquidity]
    return c.maker_fee if liquidity == "maker" else c.taker_fee


def limit_price(c: ContractAttributes, side: Side, bid: Decimal, ask: Decimal, offset_ticks: int, step: int,
                steps: int) -> Decimal:
    """Price of the ``step``-th limit order (0 = first) of ``steps`` re-prices: the touch (bid for
    a buy, ask for a sell) improved by ``offset_ticks``, plus ``step/steps`` of the ticks strictly
    inside the spread; never at or beyond the opposite touch (unless the spread is one tick or
    less: then the touch itself)."""
    tick = c.tick_size
    inside = max(int((ask - bid) / tick) - 1, 0)  # ticks strictly between bid and ask
    improve = offset_ticks + (-(-inside * step // steps) if steps > 0 else 0)
    improve = min(improve, inside)
    price = bid + tick * improve if side is Side.BUY else ask - tick * improve
    return c.round_price(price, side)


class LegExecutor:
    """Executes one leg on one exchange, recording fills into ``ledger`` and charging retries to
    ``budget``. ``fee_overrides`` maps maker/taker to fee fractions."""

    def __init__(
        self,
        client: ExchangeClient,
        prices: PriceProvider,
        ledger: FillLedger | None = None,
        budget: FeeBudget | None = None,
        config: TacticConfig | None = None,
        *,
        fee_overrides: dict[str, Decimal] | None = None,
        client_ids: Callable[[], str] | None = None,
    ) -> None:
        self.client = client
        self.client_ids = client_ids  # the strategy's client order ids (None: random numeric ones)
        self.prices = prices
        self.ledger = ledger if ledger is not None else FillLedger()
        self.budget = budget if budget is not None else FeeBudget(None)
        self.cfg = config or TacticConfig()
        self.fee_overrides = fee_overrides

    # -- plumbing -------------------------------------------------------------------------------
    async def _call(self, aw: Awaitable[T]) -> T:
        """``aw`` under the request timeout; a timeout becomes :class:`NetworkError`."""
        try:
            return await asyncio.wait_for(aw, self.cfg.order_timeout_s)
        except TimeoutError:
            raise NetworkError(f"no answer within {self.cfg.order_timeout_s:.2f}s", exchange=self.client.name) from None

    async def _send(self, leg: LegResult, factory: Any) -> OrderResult | None:
        """Send one order (``factory()`` builds the request): 429s are retried after a back-off;
        None when the outcome is unknown (``leg.uncertain`` set). Other errors raise."""
        for attempt in range(self.cfg.rate_limit_retries + 1):
            leg.orders_sent += 1
            try:
                return await self._call(factory())
            except RateLimited:
                if attempt == self.cfg.rate_limit_retries:
                    raise
                await asyncio.sleep(self.cfg.rate_limit_backoff_s * 2**attempt)
            except NetworkError as exc:
                leg.uncertain = True
                leg.error = f"order outcome unknown: {exc}"
                log.warning("%s %s: %s", self.client.name, leg.symbol, leg.error)
                return None
        return None  # pragma: no cover - the loop returns or raises

    async def _bbo(self, symbol: str) -> tuple[Decimal, Decimal]:
        return await self._call(self.prices.fetch_bbo(self.client, symbol))

    def fee_estimate(self, c: ContractAttributes, qty: Decimal, price: Decimal) -> Decimal:
        """A retry's fee, USD: taker rate x quantity x price moved ``FEE_ESTIMATE_SLIPPAGE`` against us."""
        return qty * price * (1 + FEE_ESTIMATE_SLIPPAGE) * fee_rate(c, "taker", self.fee_overrides)

    async def _reconcile(self, leg: LegResult, c: ContractAttributes, order_id: str, cum: Decimal, avg: Decimal | None,
                         fee: Decimal | None, liquidity: str, fallback: Decimal, retry: bool) -> None:
        if not fee and cum > self.ledger.order_filled(leg.exchange, order_id):
            # the order answer carries no fee (Aster): a guessed liquidity would record a limit
            # order that crossed as maker, and the stream's true trade would then be a duplicate
            fee, liquidity = await self._fee_from_history(leg.symbol, order_id, cum, liquidity)
        rec = await self.ledger.reconcile_order(
            leg.exchange, leg.symbol, leg.side, order_id, cum, avg, fee or None, liquidity,
            fallback_price=fallback, fee_rate=fee_rate(c, liquidity, self.fee_overrides))
        if rec is not None:
            if retry:
                self.budget.charge(rec.fee)
            await self.prices.invalidate(leg.exchange, leg.symbol)  # the fill changed that book
        self.absorb_known(leg)

    async def _fee_from_history(self, symbol: str, order_id: str, cum: Decimal, liquidity: str) -> tuple[Decimal | None, str]:
        """Fee (USD) and liquidity of ``order_id`` from the exchange's fill history once it shows the
        whole ``cum`` quantity; ``(None, liquidity)`` (the estimate stands) otherwise or when the
        history cannot be read."""
        try:
            trades = [f for f in await self._call(self.client.fetch_fills(symbol)) if f.order_id == order_id]
        except ExchangeError:
            return None, liquidity
        if not trades or sum((t.qty for t in trades), Decimal(0)) < cum:
            return None, liquidity
        taker = any(t.liquidity == "taker" for t in trades)
        return sum((t.fee for t in trades), Decimal(0)), "taker" if taker else "maker"

    def absorb_known(self, leg: LegResult) -> None:
        """Add to ``leg.fills`` every ledger record of this leg's orders it does not hold yet: a
        fill the user stream recorded first is then not reported again by REST (the ledger
        deduplicates), so the leg must take it from the ledger, or it would under-count what
        filled and send the rest again."""
        if not leg.order_ids:
            return
        mine = set(leg.order_ids)
        held = {id(f) for f in leg.fills}
        for rec in self.ledger.fills:
            if rec.exchange == leg.exchange and rec.order_id in mine and id(rec) not in held:
                leg.fills.append(rec)

    # -- the leg --------------------------------------------------------------------------------
    async def execute(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool = False,
        use_limit: bool = True,
        urgent: asyncio.Event | None = None,
        abort: asyncio.Event | None = None,
        retry: bool = False,
        leg: LegResult | None = None,
    ) -> LegResult:
        """Fill ``quantity`` (base units of this exchange's market). ``urgent`` set: stop working
        limit orders and go to market for the rest now; ``abort`` set: stop working limit orders
        and send nothing more (the other leg failed). ``retry``: every order of this call counts
        against the fee cap (hedges). Never raises for exchange errors: they end up in
        ``LegResult.error`` with whatever filled."""
        leg = leg or LegResult(self.client.name, symbol, side, quantity)
        try:
            c = await self._call(self.client.contract_attributes(symbol))
            target = c.round_size(quantity)
            if target <= 0 or target < c.min_size:
                leg.error = f"size {quantity} below the minimum {c.min_size}"
                return leg
            if use_limit and self.cfg.limit_timeout_s > 0:
                await self._limit_phase(leg, c, target, reduce_only, urgent, retry)
            rest = c.round_size(target - leg.filled)
            if abort is not None and abort.is_set():
                return leg
            if not leg.uncertain and self.cfg.market_fallback and rest > 0 and rest >= c.min_size:
                await self._market(leg, c, rest, reduce_only, retry or leg.orders_sent > 0)
        except InsufficientMargin as exc:
            leg.error = str(exc)
        except ExchangeError as exc:
            leg.error = str(exc)
            log.warning("%s %s: leg %s %s failed: %s", self.client.name, symbol, side.value, quantity, exc)
        return leg

    async def _limit_phase(self, leg: LegResult, c: ContractAttributes, target: Decimal, reduce_only: bool,
                           urgent: asyncio.Event | None, retry: bool) -> None:
        cfg = self.cfg
        end = time.monotonic() + cfg.limit_timeout_s
        steps = cfg.reprice_retries
        per_order = cfg.limit_timeout_s / (steps + 1)
        for step in range(steps + 1):
            rest = c.round_size(target - leg.filled)
            if rest <= 0 or rest < c.min_size or leg.uncertain or time.monotonic() >= end or (urgent and urgent.is_set()):
                return
            bid, ask = await self._bbo(leg.symbol)
            price = limit_price(c, leg.side, bid, ask, cfg.offset_ticks, step, steps)
            if not reduce_only and rest * price < c.min_notional:
                return  # the market order checks (and reports) it
            is_retry = retry or step > 0
            if is_retry and not self.budget.allows(self.fee_estimate(c, rest, price)):
                leg.error = "retry fee cap reached"
                return
            cid = self.client_ids() if self.client_ids is not None else str(random.randint(1, 2**31 - 1))
            try:
                res = await self._send(leg, functools.partial(
                    self.client.place_limit_order, leg.symbol, leg.side, rest, price, reduce_only=reduce_only,
                    post_only=cfg.post_only, client_order_id=cid))
            except InvalidOrder as exc:
                if cfg.post_only:
                    log.info("%s %s: post-only at %s refused (%s); re-pricing", leg.exchange, leg.symbol, price, exc)
                    continue
                raise
            except (InsufficientMargin, OrderNotFound):
                raise
            except ExchangeError as exc:  # rejected: the market order may still go through
                leg.error = str(exc)
                return
            if res is None:
                return
            if not res.success or res.order_id is None:
                leg.error = res.error or "limit order not acknowledged with an id"
                leg.uncertain = res.order_id is None and res.success
                return
            oid = res.order_id
            leg.order_ids.append(oid)
            self.ledger.track(leg.exchange, oid)
            info = await self._work(leg, c, oid, price, min(time.monotonic() + per_order, end), urgent, is_retry)
            if info is None or not info.is_final:
                info = await self._cancel(leg, c, oid, price, is_retry)
            if leg.uncertain:
                return

    async def _work(self, leg: LegResult, c: ContractAttributes, oid: str, price: Decimal, until: float,
                    urgent: asyncio.Event | None, retry: bool) -> OrderInfo | None:
        """Poll a resting order until final, ``until`` or ``urgent``; fills recorded as seen."""
        info: OrderInfo | None = None
        while True:
            try:
                info = await self._call(self.client.fetch_order(leg.symbol, oid))
            except (NetworkError, RateLimited, OrderNotFound):
                info = None
            except ExchangeError as exc:  # an unclassified answer to a poll: poll again
                log.warning("%s %s: order %s poll failed: %s", leg.exchange, leg.symbol, oid, exc)
                info = None
            if info is not None:
                await self._reconcile(leg, c, oid, info.filled_size, info.average_price, info.fee,
                                      limit_liquidity(leg.side, price, info.average_price), price, retry)
                if info.is_final:
                    return info
            left = until - time.monotonic()
            if left <= 0 or (urgent is not None and urgent.is_set()):
                return info
            wait = min(self.cfg.poll_interval_s, left)
            if urgent is None:
                await asyncio.sleep(wait)
            else:
                try:
                    await asyncio.wait_for(urgent.wait(), wait)
                except TimeoutError:
                    pass

    async def _cancel(self, leg: LegResult, c: ContractAttributes, oid: str, price: Decimal, retry: bool) -> OrderInfo | None:
        """Cancel a working order and record its final fills. A cancel that cannot be confirmed
        leaves the leg ``uncertain`` (the executor's clean-up cancels it later)."""
        for _ in range(3):
            try:
                await self._call(self.client.cancel_order(leg.symbol, oid))
                break
            except OrderNotFound:
                break  # filled or gone meanwhile
            except ExchangeError:
                await asyncio.sleep(0.05)
        info = await self.fetch_final_order(leg.symbol, oid)
        if info is not None:
            await self._reconcile(leg, c, oid, info.filled_size, info.average_price, info.fee,
                                  limit_liquidity(leg.side, price, info.average_price), price, retry)
        if info is None or not info.is_final:
            leg.uncertain = True
            leg.error = f"order {oid} could not be confirmed canceled"
        return info

    async def fetch_final_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """``order_id``'s state once it stopped trading (polled up to 10 times,
        ``poll_interval_s`` apart: the exchange may lag), else the last state read (None when
        none could be read). Exchange errors count as an unanswered poll."""
        info = None
        for _ in range(10):
            try:
                info = await self._call(self.client.fetch_order(symbol, order_id))
            except ExchangeError:
                info = None
            if info is not None and info.is_final:
                return info
            await asyncio.sleep(self.cfg.poll_interval_s)
        return info

    async def _market(self, leg: LegResult, c: ContractAttributes, qty: Decimal, reduce_only: bool, retry: bool) -> None:
        bid, ask = await self._bbo(leg.symbol)
        touch = ask if leg.side is Side.BUY else bid
        if retry and not self.budget.allows(self.fee_estimate(c, qty, touch)):
            leg.error = "retry fee cap reached"
            return
        res = await self._send(leg, lambda: self.client.place_market_order(leg.symbol, leg.side, qty, reduce_only=reduce_only))
        if res is None:
            return
        if not res.success:
            leg.error = res.error or "market order not accepted"
            return
        if res.order_id is None:
            leg.uncertain = True
            leg.error = "market order acknowledged without an id"
            return
        leg.order_ids.append(res.order_id)
        self.ledger.track(leg.exchange, res.order_id)
        if res.status.is_final and res.average_price:
            await self._reconcile(leg, c, res.order_id, res.filled_size, res.average_price, res.fee, "taker", touch, retry)
            return
        info = await self.fetch_final_order(leg.symbol, res.order_id)
        if info is None:
            await self._reconcile(leg, c, res.order_id, res.filled_size, res.average_price, res.fee, "taker", touch, retry)
            if not res.status.is_final:
                leg.uncertain = True
            return
        await self._reconcile(leg, c, res.order_id, info.filled_size, info.average_price, info.fee, "taker", touch, retry)
        if not info.is_final:
            leg.uncertain = True
