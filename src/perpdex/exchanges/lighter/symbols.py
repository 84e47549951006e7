"""Lighter symbol <-> market id mapping, built from ``GET /api/v1/orderBookDetails``.

Lighter names a perpetual by its bare base asset (``"ETH"``, ``"BTC"``) and identifies it by an
integer ``market_id`` (protocol doc §2.1). Memecoins are listed in bundles with a leading run of
digits (``"1000PEPE"``: one unit = 1 000 PEPE, price per 1 000): the canonical symbol strips the
prefix (``"PEPE"``) and :meth:`LighterSymbols.multiplier` returns the bundle size (1000).
Spot markets (``"ETH/USDC"``, ids from 2048) are never mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...symbols import split_prefixed


def split_multiplier(dex_symbol: str) -> tuple[str, int]:
    """``"1000PEPE"`` -> ``("PEPE", 1000)``; ``"ETH"`` -> ``("ETH", 1)``. Uppercases (Lighter
    names are upper-case, so a leading ``k`` is part of the name here)."""
    return split_prefixed(dex_symbol.strip().upper())


def normalize_symbol(dex_symbol: str) -> str:
    """Lighter symbol -> canonical (``"1000PEPE"`` -> ``"PEPE"``, ``"eth"`` -> ``"ETH"``)."""
    return split_multiplier(dex_symbol)[0]


@dataclass
class LighterSymbols:
    """Two-way map between canonical symbols and Lighter perp markets (ids and names)."""

    by_symbol: dict[str, int] = field(default_factory=dict)  # canonical -> market_id
    by_id: dict[int, str] = field(default_factory=dict)  # market_id -> canonical
    dex_names: dict[str, str] = field(default_factory=dict)  # canonical -> lighter symbol
    multipliers: dict[str, int] = field(default_factory=dict)  # canonical -> bundle size

    def add(self, dex_symbol: str, market_id: int) -> str:
        """Register one perp market; returns its canonical symbol."""
        canonical, mult = split_multiplier(dex_symbol)
        self.by_symbol[canonical] = market_id
        self.by_id[market_id] = canonical
        self.dex_names[canonical] = dex_symbol
        self.multipliers[canonical] = mult
        return canonical

    def market_id(self, symbol: str) -> int:
        """Canonical symbol -> market id; raises KeyError when unknown."""
        return self.by_symbol[symbol]

    def symbol(self, market_id: int) -> str:
        """Market id -> canonical symbol; raises KeyError when unknown."""
        return self.by_id[market_id]

    def dex_symbol(self, symbol: str) -> str:
        """Canonical -> Lighter symbol (``"PEPE"`` -> ``"1000PEPE"`` when listed so)."""
        return self.dex_names.get(symbol, symbol)

    def multiplier(self, symbol: str) -> int:
        return self.multipliers.get(symbol, 1)

    def ccxt_symbol(self, symbol: str) -> str:
        """Canonical -> ccxt unified (``"ETH"`` -> ``"ETH/USDC:USDC"``, prefix kept)."""
        return f"{self.dex_symbol(symbol)}/USDC:USDC"

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.by_symbol
