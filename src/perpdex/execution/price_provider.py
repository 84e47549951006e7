"""PriceProvider: one place to get a book or BBO for execution, cache-first.

The liquidity check caches the depth it fetched; order pricing a few milliseconds later reuses it
instead of another request (spec: "Price Provider Refactor"). A live WebSocket book that is ready
always beats the cache (it is fresher than anything cached); a fill invalidates the cached depth of
its market (the fill changed the book). Counters: ``ws_hits`` (served from a live book),
``hits``/``misses`` (cache), ``rest_calls`` (requests sent because neither could serve).

The cache is in-process by default; :class:`RedisDepthCache` shares it between bot instances
(depths stored as JSON with the TTL as the key's expiry).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from ..exchanges.base import Depth, ExchangeClient


class DepthCache(Protocol):
    async def get(self, exchange: str, symbol: str) -> Depth | None: ...

    async def put(self, exchange: str, symbol: str, depth: Depth, ttl_s: float) -> None: ...

    async def invalidate(self, exchange: str, symbol: str) -> None: ...

    async def close(self) -> None: ...


class _Cached(NamedTuple):
    expires: float  # time.monotonic() seconds
    depth: Depth


class MemoryDepthCache:
    """In-process cache: (exchange, symbol) -> (expiry monotonic time, depth)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], _Cached] = {}

    async def get(self, exchange: str, symbol: str) -> Depth | None:
        hit = self._data.get((exchange, symbol))
        if hit is None or time.monotonic() > hit.expires:
            return None
        return hit.depth

    async def put(self, exchange: str, symbol: str, depth: Depth, ttl_s: float) -> None:
        self._data[(exchange, symbol)] = _Cached(time.monotonic() + ttl_s, depth)

    async def invalidate(self, exchange: str, symbol: str) -> None:
        self._data.pop((exchange, symbol), None)

    async def close(self) -> None:
        self._data.clear()


def _encode_depth(depth: Depth) -> str:
    return json.dumps({side: [[str(lv["price"]), str(lv["size"])] for lv in levels] for side, levels in depth.items()})


def _decode_depth(raw: str | bytes) -> Depth:
    data = json.loads(raw)
    return {side: [{"price": Decimal(p), "size": Decimal(s)} for p, s in levels] for side, levels in data.items()}


class RedisDepthCache:
    """Depth cache in Redis (``redis://host:port/db``), shared by every bot instance using the
    same server; keys ``<prefix>:<exchange>:<symbol>`` expire after the TTL (milliseconds
    precision). Decimals round-trip exactly (stored as strings)."""

    def __init__(self, url: str, prefix: str = "perpdex:depth") -> None:
        import redis.asyncio as redis  # optional dependency, imported only when configured

        self._redis: Any = redis.from_url(url)
        self.prefix = prefix

    def _key(self, exchange: str, symbol: str) -> str:
        return f"{self.prefix}:{exchange}:{symbol}"

    async def get(self, exchange: str, symbol: str) -> Depth | None:
        raw = await self._redis.get(self._key(exchange, symbol))
        return None if raw is None else _decode_depth(raw)

    async def put(self, exchange: str, symbol: str, depth: Depth, ttl_s: float) -> None:
        await self._redis.set(self._key(exchange, symbol), _encode_depth(depth), px=max(int(ttl_s * 1000), 1))

    async def invalidate(self, exchange: str, symbol: str) -> None:
        await self._redis.delete(self._key(exchange, symbol))

    async def close(self) -> None:
        await self._redis.aclose()


class PriceProvider:
    """``cache_ttl_s`` seconds: how long a cached REST depth may be reused; ``cache``: where
    (in-process by default)."""

    def __init__(self, cache_ttl_s: float = 5.0, cache: DepthCache | None = None) -> None:
        self.cache_ttl_s = cache_ttl_s
        self.cache: DepthCache = cache or MemoryDepthCache()
        self.ws_hits = 0
        self.hits = 0
        self.misses = 0
        self.rest_calls = 0

    async def cache_order_book(self, exchange: str, symbol: str, depth: Depth) -> None:
        await self.cache.put(exchange, symbol, depth, self.cache_ttl_s)

    async def cached(self, exchange: str, symbol: str) -> Depth | None:
        return await self.cache.get(exchange, symbol)

    async def invalidate(self, exchange: str, symbol: str) -> None:
        """Forget the cached depth of one market (called on every fill there)."""
        await self.cache.invalidate(exchange, symbol)

    async def fetch_depth(self, client: ExchangeClient, symbol: str, levels: int = 20) -> Depth:
        """WebSocket book if ready, else a fresh cached depth, else REST (then cached)."""
        depth = client.feed_depth(symbol, levels)
        if depth is not None:
            self.ws_hits += 1
            return depth
        cached = await self.cached(client.name, symbol)
        if cached is not None and len(cached["bids"]) >= min(levels, 1):
            self.hits += 1
            return cached
        self.misses += 1
        self.rest_calls += 1
        depth = await client.fetch_order_book_rest(symbol, levels)
        await self.cache_order_book(client.name, symbol, depth)
        return depth

    async def fetch_bbo(self, client: ExchangeClient, symbol: str) -> tuple[Decimal, Decimal]:
        """(best bid, best ask): live feed first, then a fresh cached depth, then REST."""
        depth = client.feed_depth(symbol, 1)
        if depth is not None and depth["bids"] and depth["asks"]:
            self.ws_hits += 1
            return depth["bids"][0]["price"], depth["asks"][0]["price"]
        depth = await self.cached(client.name, symbol)
        if depth is not None and depth["bids"] and depth["asks"]:
            self.hits += 1
            return depth["bids"][0]["price"], depth["asks"][0]["price"]
        self.misses += 1
        self.rest_calls += 1
        return await client.fetch_bbo_prices(symbol)

    def counters(self) -> dict[str, int]:
        return {"ws_hits": self.ws_hits, "cache_hits": self.hits, "cache_misses": self.misses,
                "rest_calls": self.rest_calls}

    async def close(self) -> None:
        await self.cache.close()
