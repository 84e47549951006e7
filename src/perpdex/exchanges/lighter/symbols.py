"""Lighter's naming rule for the shared :class:`~perpdex.symbols.SymbolMap`, filled from
``GET /api/v1/orderBookDetails``.

Lighter names a perpetual by its bare base asset (``"ETH"``, ``"BTC"``) and identifies it by an
integer ``market_id`` (protocol doc §2.1). Memecoins are listed in bundles with a leading run of
digits (``"1000PEPE"``: one unit = 1 000 PEPE, price per 1 000): the canonical symbol strips the
prefix (``"PEPE"``) and :meth:`~perpdex.symbols.SymbolMap.multiplier` returns the bundle size
(1000). Spot markets (``"ETH/USDC"``, ids from 2048) are never mapped.
"""

from __future__ import annotations

from ...symbols import SymbolMap, split_prefixed


def split_multiplier(dex_symbol: str) -> tuple[str, int]:
    """``"1000PEPE"`` -> ``("PEPE", 1000)``; ``"ETH"`` -> ``("ETH", 1)``. Uppercases (Lighter
    names are upper-case, so a leading ``k`` is part of the name here)."""
    return split_prefixed(dex_symbol.strip().upper())


def normalize_symbol(dex_symbol: str) -> str:
    """Lighter symbol -> canonical (``"1000PEPE"`` -> ``"PEPE"``, ``"eth"`` -> ``"ETH"``)."""
    return split_multiplier(dex_symbol)[0]


class LighterSymbols(SymbolMap):
    """Canonical symbols <-> Lighter perps (names and integer market ids); ``add(name, market_id)``."""

    exchange = "lighter"

    def split(self, name: str) -> tuple[str, int] | None:
        return split_multiplier(name) if "/" not in name else None  # "ETH/USDC" is spot

    def rule_name(self, symbol: str) -> str:
        return symbol

    def market_id(self, symbol: str) -> int:
        """Canonical -> integer market id (:class:`~perpdex.errors.UnknownSymbol` when not listed)."""
        return int(super().market_id(symbol))

    def ccxt_name(self, name: str) -> str:
        """``"1000PEPE"`` -> ``"1000PEPE/USDC:USDC"`` (prefix kept)."""
        return f"{name}/USDC:USDC"
