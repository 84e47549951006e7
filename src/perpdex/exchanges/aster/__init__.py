"""Aster (asterdex.com) perpetuals: native market data, funding adapter, ccxt-backed private
operations. Its emulator is :mod:`perpdex.sim.venues.aster`. Protocol reference:
docs/exchanges/aster.md."""

from .client import AsterClient
from .feed import AsterMarketFeed
from .funding import AsterFundingAdapter
from .symbols import get_dex_symbol_format, normalize_symbol

__all__ = ["AsterClient", "AsterFundingAdapter", "AsterMarketFeed",
           "get_dex_symbol_format", "normalize_symbol"]

