"""Liquidation price estimate of a new leg and its distance to the mark.

The estimate is the **isolated-margin** liquidation price, the rule of Binance-style perps that
Aster follows (a position is liquidated when its margin balance falls to its maintenance margin;
docs/exchanges/aster.md §5.7/§5.9 give the per-symbol ``maintMarginRatio``): a position of
``Q`` base units entered at ``E`` with leverage ``L`` posts ``Q·E/L`` of margin, and at price
``P`` its margin balance ``Q·E/L ± Q·(P − E)`` meets the maintenance margin ``mmf·Q·P`` at

* long:  ``P = E · (1 − 1/L) / (1 − mmf)``
* short: ``P = E · (1 + 1/L) / (1 + mmf)``

(fees and the bracket's ``cum`` offset ignored). In cross margin, which every exchange here uses
by default, the rest of the account's collateral backs the position too, so the real liquidation
price is further away: the estimate is conservative. Where a position already exists, callers use
the exchange's own ``liquidation_price`` instead.
"""

from __future__ import annotations

from decimal import Decimal

from ..models import ContractAttributes, Side

ONE = Decimal(1)
#: the maintenance fraction assumed at most when a market publishes none (see :func:`maintenance_fraction`)
MAX_FALLBACK_MMF = Decimal("0.5")


def maintenance_fraction(c: ContractAttributes) -> Decimal:
    """The exchange's maintenance margin fraction of market ``c`` (0.005 = 0.5 %), else the
    initial margin fraction at max leverage (always >= the maintenance fraction, so the estimate
    stays conservative), at most :data:`MAX_FALLBACK_MMF`."""
    if c.maintenance_margin_fraction is not None:
        return c.maintenance_margin_fraction
    return min(ONE / c.max_leverage if c.max_leverage > 0 else MAX_FALLBACK_MMF, MAX_FALLBACK_MMF)


def estimate_liquidation_price(entry: Decimal, side: Side, leverage: Decimal, mmf: Decimal) -> Decimal:
    """Isolated-margin liquidation price (USD, same units as ``entry``) of a leg opened at
    ``entry`` with ``leverage`` (x) and maintenance margin fraction ``mmf`` (0.005 = 0.5 %).
    A long at 1x (or below ``mmf`` margin) cannot be liquidated above 0: returns 0."""
    if leverage <= 0 or not ONE > mmf >= 0:
        raise ValueError(f"need leverage > 0 and 0 <= mmf < 1, got leverage={leverage}, mmf={mmf}")
    if side is Side.BUY:
        return max(entry * (ONE - ONE / leverage) / (ONE - mmf), Decimal(0))
    return entry * (ONE + ONE / leverage) / (ONE + mmf)


def liquidation_distance(liquidation_price: Decimal | None, mark: Decimal, side: Side) -> Decimal:
    """How far the mark may move against a ``side`` leg (BUY = long) before its liquidation
    price, as a fraction of the mark (0.1 = 10 %). No liquidation price (None or <= 0, e.g. a
    fully collateralized long) gives 1 (100 %); a price already crossed gives 0."""
    if liquidation_price is None or liquidation_price <= 0 or mark <= 0:
        return ONE
    gap = mark - liquidation_price if side is Side.BUY else liquidation_price - mark
    return max(gap / mark, Decimal(0))
