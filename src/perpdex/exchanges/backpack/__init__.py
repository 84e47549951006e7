"""Backpack Exchange perpetuals: native market data and funding, private operations via ccxt
(natively where ccxt 4.5.90 does not cover Backpack). Its emulator is
:mod:`perpdex.sim.venues.backpack`. Protocol facts: ``docs/exchanges/backpack.md``."""

from .client import BackpackClient
from .feed import BackpackMarketFeed
from .funding import BackpackFundingAdapter

__all__ = ["BackpackClient", "BackpackFundingAdapter", "BackpackMarketFeed"]

