"""Lighter (zkLighter) perpetuals: native market data and funding, private operations via ccxt,
and the emulator's Lighter wire dialect. Protocol facts: ``shared/protocols/lighter.md``."""

from .client import LighterClient
from .emulator import LighterEmulator
from .feed import LighterMarketFeed
from .funding import LighterFundingAdapter

__all__ = ["LighterClient", "LighterEmulator", "LighterFundingAdapter", "LighterMarketFeed"]
