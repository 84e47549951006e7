"""Paradex (Starknet appchain perpetuals): client, funding adapter, market feed, emulator dialect
and the fast Starknet signer (protocol: shared/protocols/paradex.md)."""

from .client import ParadexClient
from .emulator import ParadexEmulator
from .feed import ParadexMarketFeed
from .funding import ParadexFundingAdapter

__all__ = ["ParadexClient", "ParadexEmulator", "ParadexFundingAdapter", "ParadexMarketFeed"]
