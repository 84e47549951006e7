"""Lighter (zkLighter) perpetuals: native market data and funding, private operations via ccxt,
and the emulator's Lighter wire dialect. Protocol facts: ``docs/exchanges/lighter.md``."""

from .client import LighterClient
from .feed import LighterMarketFeed
from .funding import LighterFundingAdapter

__all__ = ["LighterClient", "LighterEmulator", "LighterFundingAdapter", "LighterMarketFeed"]


def __getattr__(name: str) -> type:
    """The emulator dialect is loaded only when asked for (live trading never imports it)."""
    if name == "LighterEmulator":
        from .emulator import LighterEmulator

        return LighterEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
