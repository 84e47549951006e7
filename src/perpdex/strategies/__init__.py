"""WHAT to trade: the funding-arbitrage strategy (and, later, grid)."""
