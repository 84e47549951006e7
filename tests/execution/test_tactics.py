"""Leg tactics: what a limit order's fills cost when the exchange's order info gives no fee."""

from decimal import Decimal

from perpdex.execution.tactics import limit_liquidity
from perpdex.models import Side

D = Decimal


def test_limit_liquidity_tells_a_crossed_limit_order_from_a_resting_one():
    assert limit_liquidity(Side.BUY, D("100"), D("100")) == "maker"
    assert limit_liquidity(Side.BUY, D("100"), D("99.5")) == "taker"  # crossed a lower ask on arrival
    assert limit_liquidity(Side.SELL, D("100"), D("100.2")) == "taker"
    assert limit_liquidity(Side.SELL, D("100"), D("99.9")) == "maker"  # never filled worse than its limit
    assert limit_liquidity(Side.SELL, D("100"), None) == "maker"
