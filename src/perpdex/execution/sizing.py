"""Sizes that both legs can trade exactly: a quantity that is a multiple of both exchanges' lot
sizes, and book-walk estimates for the liquidity check."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from math import lcm

from ..exchanges.base import Depth
from ..models import Side


def common_step(*lots: Decimal) -> Decimal:
    """The smallest size that is a whole multiple of every lot size (exact decimal LCM)."""
    exp = max(max(0, -int(lot.normalize().as_tuple().exponent)) for lot in lots)
    scale = Decimal(10) ** exp
    ints = [int((lot * scale).to_integral_value()) for lot in lots]
    return Decimal(lcm(*ints)) / scale


def round_down(value: Decimal, step: Decimal) -> Decimal:
    return ((value / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step)


def canonical_depth(depth: Depth, multiplier: Decimal) -> Depth:
    """``depth`` converted from exchange units to canonical units (price / m, size * m)."""
    if multiplier == 1:
        return depth
    return {side: [{"price": lv["price"] / multiplier, "size": lv["size"] * multiplier} for lv in levels]
            for side, levels in depth.items()}


def walk_book(depth: Depth, side: Side, quantity: Decimal) -> tuple[Decimal, Decimal | None]:
    """Taking ``quantity`` (base units) from the opposite side of ``depth``: returns (fillable
    quantity, average price) — average None when nothing is fillable."""
    levels = depth["asks"] if side is Side.BUY else depth["bids"]
    left = quantity
    cost = Decimal(0)
    for lvl in levels:
        if left <= 0:
            break
        q = min(left, lvl["size"])
        cost += q * lvl["price"]
        left -= q
    filled = quantity - left
    return filled, (cost / filled if filled > 0 else None)


def slippage_bps(depth: Depth, side: Side, avg_price: Decimal) -> Decimal:
    """How far ``avg_price`` is from the touch, in basis points (positive = worse)."""
    touch = (depth["asks"] if side is Side.BUY else depth["bids"])[0]["price"]
    diff = (avg_price - touch) if side is Side.BUY else (touch - avg_price)
    return diff / touch * Decimal(10_000)
