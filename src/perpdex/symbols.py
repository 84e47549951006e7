"""The symbol registry shared by every exchange: one canonical symbol per asset (``"PEPE"``), and
per exchange its own symbol, market id and **multiplier** — how many canonical units one exchange
unit is (``1000PEPEUSDT`` on one exchange and ``kPEPE-USD-PERP`` on another are both 1,000 PEPE per
unit; ``PEPE_USDC_PERP`` is 1). Prices and sizes of two exchanges are compared only after
conversion to canonical units, so a bundle never looks like a price gap or a size mismatch.

Prefix conventions (docs/exchanges/aster.md §2.1, docs/exchanges/lighter.md §2.1, Paradex ``k`` prefix):
``1000PEPE``/``10000SATS``/``1000000MOG`` (a power of ten of at least 1,000), ``1MBABYDOGE``
(one million), ``kBONK`` (lower-case k: 1,000). A leading digit that is not such a prefix is part
of the name (``2Z``, ``0G``, ``1INCH``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import ContractAttributes

_POWER = re.compile(r"^(?P<mult>10{3,})(?P<coin>[A-Za-z][A-Za-z0-9]*)$")
_MEGA = re.compile(r"^1M(?P<coin>[A-Z][A-Z0-9]*)$")
_KILO = re.compile(r"^k(?P<coin>[A-Z][A-Z0-9]*)$")


def split_prefixed(base: str) -> tuple[str, int]:
    """``"1000PEPE"`` -> ``("PEPE", 1000)``, ``"kBONK"`` -> ``("BONK", 1000)``,
    ``"1MBABYDOGE"`` -> ``("BABYDOGE", 1000000)``, ``"2Z"`` -> ``("2Z", 1)``. The coin is upper-case."""
    m = _POWER.match(base)
    if m:
        return m.group("coin").upper(), int(m.group("mult"))
    m = _MEGA.match(base)
    if m:
        return m.group("coin"), 1_000_000
    m = _KILO.match(base)
    if m:
        return m.group("coin"), 1000
    return base.upper(), 1


@dataclass(frozen=True)
class MarketRef:
    """One asset on one exchange. ``multiplier``: canonical units per exchange unit."""

    exchange: str
    symbol: str
    exchange_symbol: str
    market_id: str | None = None
    multiplier: Decimal = Decimal(1)

    def to_canonical_size(self, size: Decimal) -> Decimal:
        return size * self.multiplier

    def to_exchange_size(self, size: Decimal) -> Decimal:
        return size / self.multiplier

    def to_canonical_price(self, price: Decimal) -> Decimal:
        return price / self.multiplier

    def to_exchange_price(self, price: Decimal) -> Decimal:
        return price * self.multiplier


class SymbolRegistry:
    """Canonical symbol -> exchange -> :class:`MarketRef`."""

    def __init__(self, refs: Iterable[MarketRef] = ()) -> None:
        self._by_symbol: dict[str, dict[str, MarketRef]] = {}
        for r in refs:
            self.add(r)

    @classmethod
    def from_contracts(cls, contracts: Iterable[ContractAttributes]) -> SymbolRegistry:
        """Registry of the active markets in exchange catalogs (``ExchangeClient.contracts``)."""
        return cls(MarketRef(c.exchange, c.symbol, c.contract_id, c.contract_id, c.multiplier)
                   for c in contracts if c.active)

    def add(self, ref: MarketRef) -> None:
        self._by_symbol.setdefault(ref.symbol, {})[ref.exchange] = ref

    def get(self, exchange: str, symbol: str) -> MarketRef | None:
        return self._by_symbol.get(symbol, {}).get(exchange)

    def exchanges(self, symbol: str) -> list[str]:
        return sorted(self._by_symbol.get(symbol, {}))

    def common(self, exchanges: Iterable[str]) -> set[str]:
        """Canonical symbols listed on every one of ``exchanges``."""
        wanted = set(exchanges)
        return {s for s, per in self._by_symbol.items() if wanted <= set(per)}

    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)
