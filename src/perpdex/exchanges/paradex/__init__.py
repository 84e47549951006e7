"""Paradex (Starknet appchain perpetuals): client, funding adapter, market feed, emulator dialect
and the fast Starknet signer (protocol: docs/exchanges/paradex.md)."""

from .client import ParadexClient
from .feed import ParadexMarketFeed
from .funding import ParadexFundingAdapter

__all__ = ["ParadexClient", "ParadexEmulator", "ParadexFundingAdapter", "ParadexMarketFeed"]


def __getattr__(name: str) -> type:
    """The emulator dialect is loaded only when asked for (live trading never imports it)."""
    if name == "ParadexEmulator":
        from .emulator import ParadexEmulator

        return ParadexEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
