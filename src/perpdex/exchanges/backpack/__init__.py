"""Backpack Exchange perpetuals: native market data and funding, private operations via ccxt
(natively where ccxt 4.5.90 does not cover Backpack), and the emulator's Backpack wire dialect.
Protocol facts: ``shared/protocols/backpack.md``."""

from .client import BackpackClient
from .emulator import BackpackEmulator
from .feed import BackpackMarketFeed
from .funding import BackpackFundingAdapter

__all__ = ["BackpackClient", "BackpackEmulator", "BackpackFundingAdapter", "BackpackMarketFeed"]
