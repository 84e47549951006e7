"""Liquidity of one leg's order size against its book: VWAP, slippage from the touch, bid/ask
spread, and how much the book offers near the touch (to trade the thinner book first)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..exchanges.base import Depth
from ..models import Side
from .refusal import Refusal, refuse
from .sizing import slippage_bps, walk_book

BPS = Decimal(10_000)


@dataclass(frozen=True)
class LegLiquidity:
    """Prices USD per unit of ``depth`` (canonical in pre-flight), bp of the touch / mid.
    ``depth_usd``: notional the side to take offers within the slippage bound of its touch."""

    touch: Decimal
    vwap: Decimal
    mid: Decimal
    slippage_bps: Decimal
    spread_bps: Decimal
    depth_usd: Decimal


def spread_bps(depth: Depth) -> Decimal:
    """(ask − bid) / mid in basis points; both sides must have a level."""
    bid, ask = depth["bids"][0]["price"], depth["asks"][0]["price"]
    return (ask - bid) / ((ask + bid) / 2) * BPS


def depth_within_bps(depth: Depth, side: Side, bps: Decimal) -> Decimal:
    """USD notional resting on the side a ``side`` order takes, at prices within ``bps`` of the touch."""
    levels = depth["asks"] if side is Side.BUY else depth["bids"]
    if not levels:
        return Decimal(0)
    touch = levels[0]["price"]
    bound = touch * (1 + bps / BPS) if side is Side.BUY else touch * (1 - bps / BPS)
    total = Decimal(0)
    for lvl in levels:
        if (side is Side.BUY and lvl["price"] > bound) or (side is Side.SELL and lvl["price"] < bound):
            break
        total += lvl["price"] * lvl["size"]
    return total


def assess_leg(depth: Depth, side: Side, quantity: Decimal, *, leg: str, exchange: str,
               max_slippage_bps: Decimal, max_spread_bps: Decimal) -> LegLiquidity:
    """Walk ``depth`` for ``quantity`` on ``side``; raises :class:`PreflightRefused` (``EMPTY_BOOK``,
    ``SPREAD``, ``THIN_BOOK``, ``SLIPPAGE``) with the numbers in the message."""
    if not depth["bids"] or not depth["asks"]:
        empty = "bid" if not depth["bids"] else "ask"
        raise refuse(Refusal.EMPTY_BOOK, leg, exchange, f"the book has no {empty}")
    spread = spread_bps(depth)
    if spread > max_spread_bps:
        raise refuse(Refusal.SPREAD, leg, exchange,
                     f"bid/ask spread {spread:.1f} bp above the maximum {max_spread_bps} bp")
    fillable, vwap = walk_book(depth, side, quantity)
    if vwap is None or fillable < quantity:
        raise refuse(Refusal.THIN_BOOK, leg, exchange,
                     f"the book offers {fillable} of {quantity} in {len(depth['asks' if side is Side.BUY else 'bids'])} levels")
    slip = slippage_bps(depth, side, vwap)
    if slip > max_slippage_bps:
        raise refuse(Refusal.SLIPPAGE, leg, exchange,
                     f"VWAP {float(vwap):.8g} for {quantity} is {slip:.1f} bp from the touch, maximum {max_slippage_bps} bp")
    touch = (depth["asks"] if side is Side.BUY else depth["bids"])[0]["price"]
    mid = (depth["bids"][0]["price"] + depth["asks"][0]["price"]) / 2
    return LegLiquidity(touch, vwap, mid, slip, spread, depth_within_bps(depth, side, max_slippage_bps))
