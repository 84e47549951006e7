"""First-in-first-out lots of a one-sided position: which entries are still open, and the round
trips (entry quantity matched with the exit that closed it) with their price PnL.

Inputs are fills in time order as ``(side, qty, price, fee, ts)``; ``direction`` is the side that
opens (``buy`` for a long grid). Quantities base units, prices USD, fees USD, ``ts`` epoch
seconds. Exits beyond the open quantity (which a correct grid never sends) open nothing and are
counted in ``unmatched_exit_qty``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

D0 = Decimal(0)


@dataclass
class Lot:
    """An open entry quantity: ``qty`` base units bought (long) or sold (short) at ``price``."""

    qty: Decimal
    price: Decimal
    ts: float


@dataclass(frozen=True)
class RoundTrip:
    """``qty`` base units entered at ``entry_price`` and exited at ``exit_price`` (USD);
    ``price_pnl`` USD before fees (positive when the exit was better than the entry)."""

    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    entry_ts: float
    exit_ts: float
    price_pnl: Decimal


@dataclass
class LotBook:
    """Open lots and closed round trips of one direction (see module doc)."""

    direction: str  # "buy" | "sell": the opening side
    open_lots: list[Lot] = field(default_factory=list)
    round_trips: list[RoundTrip] = field(default_factory=list)
    fees: Decimal = D0
    unmatched_exit_qty: Decimal = D0

    def add(self, side: str, qty: Decimal, price: Decimal, fee: Decimal, ts: float) -> None:
        self.fees += fee
        if side == self.direction:
            self.open_lots.append(Lot(qty, price, ts))
            return
        sign = 1 if self.direction == "buy" else -1
        left = qty
        while left > 0 and self.open_lots:
            lot = self.open_lots[0]
            take = min(lot.qty, left)
            self.round_trips.append(RoundTrip(take, lot.price, price, lot.ts, ts, (price - lot.price) * take * sign))
            lot.qty -= take
            left -= take
            if lot.qty <= 0:
                self.open_lots.pop(0)
        self.unmatched_exit_qty += left

    @property
    def open_qty(self) -> Decimal:
        """Base units still open (>= 0)."""
        return sum((lot.qty for lot in self.open_lots), D0)

    @property
    def avg_entry(self) -> Decimal | None:
        """VWAP of the open lots (USD), None when flat."""
        q = self.open_qty
        return sum((lot.qty * lot.price for lot in self.open_lots), D0) / q if q > 0 else None

    @property
    def oldest_ts(self) -> float | None:
        return self.open_lots[0].ts if self.open_lots else None

    @property
    def realized_price_pnl(self) -> Decimal:
        return sum((rt.price_pnl for rt in self.round_trips), D0)

    def unrealized(self, mark: Decimal) -> Decimal:
        """Price PnL of the open lots at ``mark`` (USD)."""
        sign = 1 if self.direction == "buy" else -1
        return sum(((mark - lot.price) * lot.qty * sign for lot in self.open_lots), D0)
