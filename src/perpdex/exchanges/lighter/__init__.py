"""Lighter (zkLighter) perpetuals: native market data and funding, private operations via ccxt,
and the signer library lookup. Its emulator is :mod:`perpdex.sim.venues.lighter`. Protocol
facts: ``docs/exchanges/lighter.md``."""

from .client import LighterClient
from .feed import LighterMarketFeed
from .funding import LighterFundingAdapter

__all__ = ["LighterClient", "LighterFundingAdapter", "LighterMarketFeed"]

