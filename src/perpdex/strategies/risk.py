"""Risk of a held pair from each leg's own position on its exchange: a leg the exchange
liquidated or auto-deleveraged (its size fell below the size we opened while we sent no order),
and a leg whose liquidation price has come too close to its mark."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..execution.liquidation import liquidation_distance
from ..models import ExchangePositionSnapshot, Side


@dataclass(frozen=True)
class LegState:
    """One leg as its exchange reports it. ``role`` long|short; ``expected`` the canonical size
    we hold (positive); ``multiplier`` canonical units per exchange unit; ``snapshot`` None when
    the exchange reports no position."""

    role: str
    exchange: str
    expected: Decimal
    multiplier: Decimal
    snapshot: ExchangePositionSnapshot | None

    @property
    def side(self) -> Side:
        return Side.BUY if self.role == "long" else Side.SELL

    @property
    def size(self) -> Decimal:
        """The canonical size still open on the leg's side (0 when flat or flipped)."""
        s = self.snapshot
        if s is None or s.quantity * self.side.sign <= 0:
            return Decimal(0)
        return abs(s.quantity) * self.multiplier


def reduced_leg(legs: list[LegState]) -> str | None:
    """``"<exchange> leg liquidated/ADL: size X -> Y"`` for the first leg whose size fell below
    what we hold, else None (sizes canonical base units)."""
    for leg in legs:
        if leg.size < leg.expected:
            return f"{leg.exchange} leg liquidated/ADL: size {leg.expected.normalize():f} -> {leg.size.normalize():f}"
    return None


def near_liquidation(legs: list[LegState], minimum: Decimal) -> str | None:
    """The first leg whose exchange-reported liquidation price is closer to its mark than
    ``minimum`` (fraction), as a reason naming the numbers; None when every leg is far enough
    (or the exchange gives no liquidation price / mark)."""
    if minimum <= 0:
        return None
    for leg in legs:
        s = leg.snapshot
        if s is None or not s.liquidation_price or not s.mark_price:
            continue
        dist = liquidation_distance(s.liquidation_price, s.mark_price, leg.side)
        if dist < minimum:
            return (f"{leg.role} leg on {leg.exchange}: liquidation {dist:.1%} from mark "
                    f"({float(s.liquidation_price):.8g} vs mark {float(s.mark_price):.8g}), minimum {minimum:.0%}")
    return None
