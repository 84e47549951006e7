"""Paradex (Starknet appchain perpetuals): client, funding adapter, market feed and the fast
Starknet signer; its emulator is :mod:`perpdex.sim.venues.paradex` (protocol:
docs/exchanges/paradex.md)."""

from .client import ParadexClient
from .feed import ParadexMarketFeed
from .funding import ParadexFundingAdapter

__all__ = ["ParadexClient", "ParadexFundingAdapter", "ParadexMarketFeed"]

