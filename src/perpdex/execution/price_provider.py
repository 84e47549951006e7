"""PriceProvider: one place to get a book or BBO for execution, cache-first.

The liquidity check caches the depth it fetched; order pricing a few milliseconds later reuses it
instead of another request (spec: "Price Provider Refactor"). Live WebSocket data is always
preferred when it is ready, since it is fresher than any cache.
"""

from __future__ import annotations

import time
from decimal import Decimal

from ..exchanges.base import Depth, ExchangeClient


class PriceProvider:
    """``cache_ttl_s`` seconds: how long a cached REST depth may be reused."""

    def __init__(self, cache_ttl_s: float = 5.0) -> None:
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[str, str], tuple[float, Depth]] = {}
        self.hits = 0
        self.misses = 0

    def cache_order_book(self, exchange: str, symbol: str, depth: Depth) -> None:
        self._cache[(exchange, symbol)] = (time.monotonic(), depth)

    def cached(self, exchange: str, symbol: str) -> Depth | None:
        hit = self._cache.get((exchange, symbol))
        if hit is None or time.monotonic() - hit[0] > self.cache_ttl_s:
            return None
        return hit[1]

    async def get_depth(self, client: ExchangeClient, symbol: str, levels: int = 20) -> Depth:
        """WebSocket book if ready, else a fresh cached depth, else REST (then cached)."""
        depth = await client.get_order_book_from_websocket(symbol, levels)
        if depth is not None:
            return depth
        cached = self.cached(client.name, symbol)
        if cached is not None and len(cached["bids"]) >= min(levels, 1):
            self.hits += 1
            return cached
        self.misses += 1
        depth = await client.fetch_order_book_rest(symbol, levels)
        self.cache_order_book(client.name, symbol, depth)
        return depth

    async def get_bbo(self, client: ExchangeClient, symbol: str) -> tuple[Decimal, Decimal]:
        """(best bid, best ask): live feed first, then a fresh cached depth, then REST."""
        depth = await client.get_order_book_from_websocket(symbol, 1)
        if depth is None:
            depth = self.cached(client.name, symbol)
        if depth is not None and depth["bids"] and depth["asks"]:
            return depth["bids"][0]["price"], depth["asks"][0]["price"]
        return await client.fetch_bbo_prices(symbol)
