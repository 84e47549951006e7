"""Aster (asterdex.com) perpetuals: native market data, funding adapter, ccxt-backed private
operations, and the emulator dialect. Protocol reference: shared/protocols/aster.md."""

from .client import AsterClient
from .emulator import AsterEmulator
from .feed import AsterMarketFeed
from .funding import AsterFundingAdapter
from .symbols import get_dex_symbol_format, normalize_symbol

__all__ = ["AsterClient", "AsterEmulator", "AsterFundingAdapter", "AsterMarketFeed",
           "get_dex_symbol_format", "normalize_symbol"]
