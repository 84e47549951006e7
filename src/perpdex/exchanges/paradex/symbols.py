"""Paradex's naming rule for the shared :class:`~perpdex.symbols.SymbolMap`.

Paradex names perpetuals ``BASE-USD-PERP`` (quote USD, settled in USDC; protocol doc §0 item 3,
§2.1). Memecoins carry a lower-case ``k`` prefix meaning 1 000 tokens per unit
(``kBONK-USD-PERP``: one unit = 1 000 BONK, price per 1 000 BONK): the canonical symbol is the coin
(``"BONK"``) and :func:`split_market` / :meth:`~perpdex.symbols.SymbolMap.multiplier` give the
multiplier (1000) for the shared symbol registry. ccxt upper-cases the prefix in its unified symbol
(``KBONK/USD:USDC``). Perpetual options (``BTC-USD-96000-C``) are never mapped.
"""

from __future__ import annotations

import re

from ...symbols import SymbolMap

_PERP = re.compile(r"^(?P<base>[A-Za-z0-9]+)-USD-PERP$")
_KILO = re.compile(r"^k(?P<coin>[A-Z0-9][A-Z0-9]*)$")


def split_base(base: str) -> tuple[str, int]:
    """Paradex base currency -> (canonical coin, multiplier): ``"kBONK"`` -> ``("BONK", 1000)``,
    ``"BTC"`` -> ``("BTC", 1)``, ``"0G"`` -> ``("0G", 1)``."""
    m = _KILO.match(base.strip())
    if m:
        return m.group("coin"), 1000
    return base.strip().upper(), 1


def split_market(market: str) -> tuple[str, int]:
    """``"kBONK-USD-PERP"`` -> ``("BONK", 1000)``; raises ValueError for anything that is not a
    ``BASE-USD-PERP`` perpetual (options, spot, garbage)."""
    m = _PERP.match(market.strip()) if isinstance(market, str) else None
    if m is None:
        raise ValueError(f"not a Paradex perpetual market name: {market!r}")
    return split_base(m.group("base"))


def normalize_symbol(market: str) -> str:
    """Paradex market -> canonical (``"BTC-USD-PERP"`` -> ``"BTC"``, ``"kPEPE-USD-PERP"`` ->
    ``"PEPE"``). A bare base (``"ETH"``) is accepted too. Raises ValueError."""
    if "-" not in market:
        return split_base(market)[0]
    return split_market(market)[0]


def market_name(symbol: str, multiplier: int = 1) -> str:
    """Canonical -> Paradex market name (``"BTC"`` -> ``"BTC-USD-PERP"``; with multiplier 1000
    ``"BONK"`` -> ``"kBONK-USD-PERP"``)."""
    return f"{'k' if multiplier == 1000 else ''}{symbol}-USD-PERP"


class ParadexSymbols(SymbolMap):
    """Canonical symbols <-> listed Paradex perps (``BASE-USD-PERP``); the market name is the id."""

    exchange = "paradex"

    def split(self, name: str) -> tuple[str, int] | None:
        try:
            return split_market(name)
        except ValueError:
            return None

    def rule_name(self, symbol: str) -> str:
        return market_name(symbol)

    def ccxt_name(self, name: str) -> str:
        """``"kBONK-USD-PERP"`` -> ``"KBONK/USD:USDC"`` (ccxt upper-cases the base)."""
        return f"{name.split('-')[0].upper()}/USD:USDC"
