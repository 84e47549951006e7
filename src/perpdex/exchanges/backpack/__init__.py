"""Backpack Exchange perpetuals: native market data and funding, private operations via ccxt
(natively where ccxt 4.5.90 does not cover Backpack), and the emulator's Backpack wire dialect.
Protocol facts: ``docs/exchanges/backpack.md``."""

from .client import BackpackClient
from .feed import BackpackMarketFeed
from .funding import BackpackFundingAdapter

__all__ = ["BackpackClient", "BackpackEmulator", "BackpackFundingAdapter", "BackpackMarketFeed"]


def __getattr__(name: str) -> type:
    """The emulator dialect is loaded only when asked for (live trading never imports it)."""
    if name == "BackpackEmulator":
        from .emulator import BackpackEmulator

        return BackpackEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
