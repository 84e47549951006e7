"""Aster's naming rule for the shared :class:`~perpdex.symbols.SymbolMap`: canonical coin
(``"BTC"``) <-> exchange symbol (``"BTCUSDT"``).

Protocol facts (docs/exchanges/aster.md §2.1, asterdex/api-docs "Exchange Information"):

* REST symbol = ``baseAsset + quoteAsset``, uppercase, no separator; quote mostly ``USDT``.
* WebSocket stream names use the lowercase symbol (``btcusdt@depth20@100ms``).
* Low-priced coins trade in bundles with the multiplier in the base asset name: ``1000PEPE``,
  ``10000…``, ``1000000…`` or a ``1M`` prefix. The canonical coin drops the multiplier
  (``"1000PEPEUSDT"`` -> ``"PEPE"``); prices and sizes on the exchange refer to the bundle.
  A leading digit that is not such a multiplier is part of the name (``"2ZUSDT"`` -> ``"2Z"``,
  ``"0GUSDT"`` -> ``"0G"``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...symbols import SymbolMap, split_prefixed

DEFAULT_QUOTE = "USDT"
_QUOTES = ("USDT", "USDC", "USD1", "USD")


def split_multiplier(base_asset: str) -> tuple[str, int]:
    """``"1000PEPE"`` -> ``("PEPE", 1000)``; ``"1MBABYDOGE"`` -> ``("BABYDOGE", 1000000)``;
    ``"BTC"`` -> ``("BTC", 1)`` (the shared rule of :func:`perpdex.symbols.split_prefixed`)."""
    return split_prefixed(base_asset.upper())


def strip_quote(dex_symbol: str) -> str:
    """Base asset of an exchange symbol (``"BTCUSDT"`` -> ``"BTC"``); unchanged if no known quote."""
    s = dex_symbol.upper()
    for q in _QUOTES:
        if s.endswith(q) and len(s) > len(q):
            return s[: -len(q)]
    return s


def normalize_symbol(dex_symbol: str) -> str:
    """Exchange symbol (or base asset) -> canonical coin: ``"BTCUSDT"`` -> ``"BTC"``,
    ``"1000PEPEUSDT"`` -> ``"PEPE"``, ``"btcusdt"`` -> ``"BTC"``."""
    return split_multiplier(strip_quote(dex_symbol))[0]


def get_dex_symbol_format(normalized_symbol: str, known: Mapping[str, str] | None = None) -> str:
    """Canonical coin -> exchange symbol. ``known`` (canonical -> exchange symbol, learned from
    the catalog) resolves bundled markets (``"PEPE"`` -> ``"1000PEPEUSDT"``); otherwise the
    symbol is ``<COIN>USDT`` (the naming rule of :class:`AsterSymbols`)."""
    coin = normalized_symbol.upper()
    if known is not None and coin in known:
        return known[coin]
    return coin + DEFAULT_QUOTE


class AsterSymbols(SymbolMap):
    """Canonical coins <-> Aster perps (``"BTCUSDT"``; the symbol is the id)."""

    exchange = "aster"

    def split(self, name: str) -> tuple[str, int] | None:
        return split_multiplier(strip_quote(name))

    def rule_name(self, symbol: str) -> str:
        return get_dex_symbol_format(symbol)

    def ccxt_name(self, name: str) -> str:
        """``"1000PEPEUSDT"`` -> ``"1000PEPE/USDT:USDT"`` (margined in its quote asset)."""
        base = strip_quote(name)
        quote = name.upper()[len(base):] or DEFAULT_QUOTE
        return f"{base}/{quote}:{quote}"


def stream_name(dex_symbol: str, channel: str) -> str:
    """``("BTCUSDT", "depth20@100ms")`` -> ``"btcusdt@depth20@100ms"``."""
    return f"{dex_symbol.lower()}@{channel}"
