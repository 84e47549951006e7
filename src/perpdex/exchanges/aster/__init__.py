"""Aster (asterdex.com) perpetuals: native market data, funding adapter, ccxt-backed private
operations, and the emulator dialect. Protocol reference: docs/exchanges/aster.md."""

from .client import AsterClient
from .feed import AsterMarketFeed
from .funding import AsterFundingAdapter
from .symbols import get_dex_symbol_format, normalize_symbol

__all__ = ["AsterClient", "AsterEmulator", "AsterFundingAdapter", "AsterMarketFeed",
           "get_dex_symbol_format", "normalize_symbol"]


def __getattr__(name: str) -> type:
    """The emulator dialect is loaded only when asked for (live trading never imports it)."""
    if name == "AsterEmulator":
        from .emulator import AsterEmulator

        return AsterEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
