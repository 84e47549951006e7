"""perpdex: delta-neutral funding-rate arbitrage across perpetual DEXes."""

__version__ = "0.1.0"
