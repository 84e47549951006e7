"""Backpack's naming rule for the shared :class:`~perpdex.symbols.SymbolMap`: canonical ``"BTC"``
<-> ``"BTC_USDC_PERP"``.

Protocol facts (docs/exchanges/backpack.md §2.1; https://docs.backpack.exchange, Markets):

* Perpetuals are named ``<BASE>_USDC_PERP``; spot markets ``<BASE>_USDC`` are never mapped.
* Thousand-unit contracts carry a lowercase ``k`` prefix (``kBONK_USDC_PERP``: one unit =
  1 000 BONK, price per 1 000). Other venues use a leading ``1000`` (``1000PEPE``); both are
  understood here. The canonical symbol is the coin (``"BONK"``) and :func:`split_multiplier`
  / :meth:`~perpdex.symbols.SymbolMap.multiplier` give the bundle size (1000), so a shared symbol registry
  can convert prices (÷ multiplier) and sizes (× multiplier) to coin units.
* ccxt's unified symbol is ``BASE/USDC:USDC`` with the base upper-cased (``KBONK/USDC:USDC``).
"""

from __future__ import annotations

from ...symbols import SymbolMap, split_prefixed

QUOTE = "USDC"
PERP_SUFFIX = "_USDC_PERP"


def split_multiplier(base: str) -> tuple[str, int]:
    """A Backpack base asset -> (canonical coin, units per contract unit).

    ``"kBONK"`` -> ``("BONK", 1000)``; ``"1000PEPE"`` -> ``("PEPE", 1000)``;
    ``"BTC"`` -> ``("BTC", 1)``. Only a lowercase ``k`` followed by an upper-case ticker counts
    as the thousand prefix (``"KAITO"`` stays ``"KAITO"``). Bad input (empty) -> ``("", 1)``.
    The rule is the shared registry's (:func:`perpdex.symbols.split_prefixed`), applied to the
    base as Backpack writes it (case kept, so the ``k`` is seen)."""
    return split_prefixed((base or "").strip())


def exchange_base(coin: str, multiplier: int) -> str:
    """Canonical coin + bundle size -> Backpack base asset (``("BONK", 1000)`` -> ``"kBONK"``;
    other bundle sizes keep the digits, ``("X", 1000000)`` -> ``"1000000X"``)."""
    if multiplier == 1:
        return coin
    return f"k{coin}" if multiplier == 1000 else f"{multiplier}{coin}"


def base_of(dex_symbol: str) -> str | None:
    """``"BTC_USDC_PERP"`` -> ``"BTC"``; None for anything that is not a USDC perpetual."""
    s = (dex_symbol or "").strip()
    if not s.endswith(PERP_SUFFIX) or len(s) == len(PERP_SUFFIX):
        return None
    return s[: -len(PERP_SUFFIX)]


def normalize_symbol(dex_symbol: str) -> str:
    """Backpack symbol -> canonical (``"kBONK_USDC_PERP"`` -> ``"BONK"``). A string that is not a
    perp symbol is treated as a bare base asset (``"eth"`` -> ``"ETH"``)."""
    base = base_of(dex_symbol)
    return split_multiplier(base if base is not None else dex_symbol)[0]


def dex_symbol(symbol: str) -> str:
    """Canonical -> Backpack symbol, without a catalog (no multiplier prefix): ``"BTC"`` ->
    ``"BTC_USDC_PERP"``."""
    return f"{symbol}{PERP_SUFFIX}"


class BackpackSymbols(SymbolMap):
    """Canonical symbols <-> Backpack perps (``BTC_USDC_PERP``; the name is the id)."""

    exchange = "backpack"

    def split(self, name: str) -> tuple[str, int] | None:
        base = base_of(name)
        return split_multiplier(base) if base is not None else None

    def rule_name(self, symbol: str) -> str:
        return dex_symbol(symbol)

    def ccxt_name(self, name: str) -> str:
        """``"kBONK_USDC_PERP"`` -> ``"KBONK/USDC:USDC"`` (ccxt upper-cases the prefixed base)."""
        base = base_of(name) or name
        return f"{base.upper()}/{QUOTE}:{QUOTE}"
