"""Pre-flight checks before a two-leg trade: leverage normalization, feed readiness, a common
size, margin, and liquidity of the size against the live book.

Everything here raises :class:`~perpdex.errors.ExecutionError` with a reason a user can act on;
nothing is sent to an exchange except leverage settings.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

from ..errors import ExchangeError, ExecutionError
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, Side
from .price_provider import PriceProvider
from .sizing import canonical_depth, common_step, round_down, slippage_bps, walk_book

log = logging.getLogger(__name__)

MARGIN_BUFFER = Decimal("1.10")  # 10 % headroom over initial margin + fees


@dataclass
class PreflightResult:
    """``quantity`` canonical base units per leg (``long_qty``/``short_qty`` the same amount in
    each exchange's own units, see ``ContractAttributes.multiplier``), ``leverage`` x, prices USD
    per canonical unit, slippage in bp."""

    symbol: str
    quantity: Decimal
    long_qty: Decimal
    short_qty: Decimal
    leverage: Decimal
    long_attrs: ContractAttributes
    short_attrs: ContractAttributes
    long_price: Decimal  # expected average buy price
    short_price: Decimal  # expected average sell price
    long_slippage_bps: Decimal
    short_slippage_bps: Decimal


async def normalize_leverage(long: ExchangeClient, short: ExchangeClient, symbol: str, wanted: Decimal) -> Decimal:
    """The wanted leverage capped to the lower maximum of both exchanges, set on both where the
    exchange supports it. Both legs then carry the same leverage."""
    infos = await asyncio.gather(long.get_leverage_info(symbol), short.get_leverage_info(symbol))
    maxima = [i.max_leverage for i in infos if i.max_leverage]
    lev = min([wanted, *maxima])
    lev = lev.to_integral_value(rounding="ROUND_FLOOR") if lev >= 1 else Decimal(1)
    for client in (long, short):
        try:
            await client.set_leverage(symbol, lev)
        except ExchangeError as exc:
            raise ExecutionError(f"{client.name} {symbol}: setting leverage {lev}x failed: {exc}") from exc
    return lev


async def run_preflight(
    long: ExchangeClient,
    short: ExchangeClient,
    symbol: str,
    *,
    size_usd: Decimal,
    leverage: Decimal,
    max_slippage_bps: Decimal,
    ready_timeout_s: float,
    prices: PriceProvider,
    depth_levels: int = 50,
) -> PreflightResult:
    """Check that a delta-neutral pair of ``size_usd`` notional per leg can be opened now."""
    try:
        la, sa = await asyncio.gather(long.get_contract_attributes(symbol), short.get_contract_attributes(symbol))
    except ExchangeError as exc:
        raise ExecutionError(f"{symbol}: market lookup failed: {exc}") from exc

    lev = await normalize_leverage(long, short, symbol, leverage)

    await asyncio.gather(long.prepare_market_feed(symbol), short.prepare_market_feed(symbol))
    ready = await asyncio.gather(
        long.feed.wait_ready(symbol, ready_timeout_s), short.feed.wait_ready(symbol, ready_timeout_s)
    )
    for client, ok in zip((long, short), ready):
        if not ok:
            raise ExecutionError(f"{client.name} {symbol}: order book not ready within {ready_timeout_s:.0f}s")

    raw = await asyncio.gather(prices.get_depth(long, symbol, depth_levels), prices.get_depth(short, symbol, depth_levels))
    ld, sd = canonical_depth(raw[0], la.multiplier), canonical_depth(raw[1], sa.multiplier)
    if not ld["asks"] or not sd["bids"]:
        raise ExecutionError(f"{symbol}: empty book side (long asks or short bids)")
    mid = (ld["asks"][0]["price"] + sd["bids"][0]["price"]) / 2
    step = common_step(la.canonical_lot, sa.canonical_lot)  # a size both exchanges can trade exactly
    qty = round_down(size_usd / mid, step)
    for c in (la, sa):
        if qty <= 0 or qty / c.multiplier < c.min_size:
            raise ExecutionError(f"{c.exchange} {symbol}: size {qty / c.multiplier if qty > 0 else qty} below minimum {c.min_size}")
        if qty * mid < c.min_notional:
            raise ExecutionError(f"{c.exchange} {symbol}: notional {qty * mid:.2f} below minimum {c.min_notional} USD")

    checks = []
    for client, depth, side in ((long, ld, Side.BUY), (short, sd, Side.SELL)):
        fillable, avg = walk_book(depth, side, qty)
        if avg is None or fillable < qty:
            raise ExecutionError(f"{client.name} {symbol}: book too thin for {qty} ({fillable} fillable in {depth_levels} levels)")
        slip = slippage_bps(depth, side, avg)
        if slip > max_slippage_bps:
            raise ExecutionError(f"{client.name} {symbol}: slippage {slip:.1f} bp > {max_slippage_bps} bp for {qty}")
        checks.append((avg, slip))

    notional = qty * mid
    balances = await asyncio.gather(long.get_account_balance(), short.get_account_balance())
    for client, c, avail in zip((long, short), (la, sa), balances):
        need = (notional / lev + notional * 2 * c.taker_fee) * MARGIN_BUFFER
        if avail < need:
            raise ExecutionError(f"{client.name}: available margin {avail:.2f} USD < {need:.2f} USD needed")

    (lp, ls), (sp, ss) = checks
    return PreflightResult(symbol, qty, qty / la.multiplier, qty / sa.multiplier, lev, la, sa, lp, sp, ls, ss)
