"""Order tactics for one leg: a limit order at BBO ± offset, then a market order for whatever is
left after a timeout.

Every fill is reported through ``on_fill`` as soon as it is known, so the caller can persist it
before doing anything else (a crash never loses a fill).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Awaitable, Callable

from ..errors import ExchangeError, OrderNotFound
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, OrderInfo, OrderResult, Side
from .price_provider import PriceProvider

log = logging.getLogger(__name__)


@dataclass
class FillRecord:
    """One execution: ``qty`` base units at ``price`` USD, ``fee`` USD, ``liquidity`` maker|taker."""

    exchange: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    order_id: str | None
    ts: float = field(default_factory=time.time)

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


@dataclass
class LegResult:
    exchange: str
    symbol: str
    side: Side
    requested: Decimal
    fills: list[FillRecord] = field(default_factory=list)
    error: str | None = None

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


FillCallback = Callable[[FillRecord], Awaitable[None]]


def fee_rate(c: ContractAttributes, liquidity: str, overrides: dict[str, Decimal] | None = None) -> Decimal:
    """Fee fraction for ``liquidity`` (maker|taker): config override first, else the catalog."""
    if overrides and overrides.get(liquidity) is not None:
        return overrides[liquidity]
    return c.maker_fee if liquidity == "maker" else c.taker_fee


class LegExecutor:
    """Executes one leg on one exchange. ``fee_overrides`` maps maker/taker to fee fractions."""

    def __init__(
        self,
        client: ExchangeClient,
        prices: PriceProvider,
        *,
        poll_interval_s: float = 0.2,
        fee_overrides: dict[str, Decimal] | None = None,
    ) -> None:
        self.client = client
        self.prices = prices
        self.poll_interval_s = poll_interval_s
        self.fee_overrides = fee_overrides

    async def execute(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool = False,
        use_limit: bool = True,
        offset_ticks: int = 0,
        timeout_s: float = 3.0,
        on_fill: FillCallback | None = None,
    ) -> LegResult:
        """Fill ``quantity`` (base units): limit at the touch ± ``offset_ticks`` (towards the
        spread, never crossing it) for up to ``timeout_s`` seconds, then market for the rest.
        Never raises for exchange errors: they end up in ``LegResult.error`` with whatever filled."""
        leg = LegResult(self.client.name, symbol, side, quantity)
        try:
            c = await self.client.get_contract_attributes(symbol)
            if use_limit:
                await self._limit_phase(leg, c, reduce_only, offset_ticks, timeout_s, on_fill)
            rest = c.round_size(quantity - leg.filled)
            if rest > 0 and rest >= c.min_size:
                await self._market_phase(leg, c, rest, reduce_only, on_fill)
        except ExchangeError as exc:
            leg.error = str(exc)
            log.warning("%s %s: leg %s %s failed: %s", self.client.name, symbol, side.value, quantity, exc)
        return leg

    async def _record(self, leg: LegResult, c: ContractAttributes, qty: Decimal, price: Decimal,
                      liquidity: str, order_id: str | None, fee: Decimal | None, on_fill: FillCallback | None) -> None:
        if qty <= 0:
            return
        if fee is None or fee == 0:
            fee = qty * price * fee_rate(c, liquidity, self.fee_overrides)
        rec = FillRecord(leg.exchange, leg.symbol, leg.side, qty, price, fee, liquidity, order_id)
        leg.fills.append(rec)
        await self.prices.invalidate(leg.exchange, leg.symbol)  # the fill changed that book
        if on_fill is not None:
            await on_fill(rec)

    async def _limit_phase(self, leg: LegResult, c: ContractAttributes, reduce_only: bool, offset_ticks: int,
                           timeout_s: float, on_fill: FillCallback | None) -> None:
        bid, ask = await self.prices.get_bbo(self.client, leg.symbol)
        off = c.tick_size * offset_ticks
        if leg.side is Side.BUY:
            price = min(bid + off, ask - c.tick_size) if ask - c.tick_size >= bid else bid
        else:
            price = max(ask - off, bid + c.tick_size) if bid + c.tick_size <= ask else ask
        res = await self.client.place_limit_order(leg.symbol, leg.side, leg.requested, price, reduce_only=reduce_only)
        if not res.success or res.order_id is None:
            leg.error = res.error or "limit order not accepted"
            return
        info = await self._wait_final(leg.symbol, res, timeout_s)
        if info is None or not info.is_final:
            try:
                await self.client.cancel_order(leg.symbol, res.order_id)
            except OrderNotFound:
                pass  # filled (or gone) meanwhile
            info = await self._final_info(leg.symbol, res.order_id) or info
        filled = info.filled_size if info is not None else res.filled_size
        avg = (info.average_price if info is not None else None) or res.average_price or price
        await self._record(leg, c, filled, avg, "maker", res.order_id, info.fee if info else None, on_fill)

    async def _market_phase(self, leg: LegResult, c: ContractAttributes, qty: Decimal, reduce_only: bool,
                            on_fill: FillCallback | None) -> None:
        res = await self.client.place_market_order(leg.symbol, leg.side, qty, reduce_only=reduce_only)
        if not res.success:
            leg.error = res.error or "market order not accepted"
            return
        info = None
        if res.order_id is not None and not (res.status.is_final and res.average_price):
            info = await self._final_info(leg.symbol, res.order_id)
        filled = info.filled_size if info is not None else res.filled_size
        avg = (info.average_price if info is not None else None) or res.average_price
        if avg is None:
            bid, ask = await self.prices.get_bbo(self.client, leg.symbol)
            avg = ask if leg.side is Side.BUY else bid
        await self._record(leg, c, filled, avg, "taker", res.order_id, info.fee if info else res.fee, on_fill)

    async def _wait_final(self, symbol: str, res: OrderResult, timeout_s: float) -> OrderInfo | None:
        deadline = time.monotonic() + timeout_s
        info: OrderInfo | None = None
        while time.monotonic() < deadline:
            info = await self.client.get_order_info(symbol, res.order_id or "")
            if info is not None and info.is_final:
                return info
            await asyncio.sleep(self.poll_interval_s)
        return info

    async def _final_info(self, symbol: str, order_id: str) -> OrderInfo | None:
        """Order state after it stopped trading (a few polls: the exchange may lag)."""
        info = None
        for _ in range(10):
            info = await self.client.get_order_info(symbol, order_id)
            if info is None or info.is_final:
                return info
            await asyncio.sleep(self.poll_interval_s)
        return info
