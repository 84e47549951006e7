"""PriceProvider: live WebSocket books first, then the (optionally Redis-shared) cache, then REST;
counters; invalidation on fills."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from decimal import Decimal

import pytest

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.execution.price_provider import PriceProvider, RedisDepthCache
from perpdex.execution.tactics import LegExecutor
from perpdex.models import Side


def cfg(tmp_path):
    return parse_config({"sim": {"enabled": True}, "exchanges": {"lighter": {}},
                         "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})


async def test_ws_book_beats_cache_then_cache_then_rest_and_fills_invalidate(tmp_path):
    async with runtime(cfg(tmp_path)) as rt:
        client = rt.clients["lighter"]
        await client.connect()
        prices = PriceProvider(cache_ttl_s=60)
        await client.prepare_market_feed("ETH")
        assert await client.feed.wait_ready("ETH", 10)
        await prices.fetch_depth(client, "ETH", 10)
        await prices.fetch_bbo(client, "ETH")
        assert prices.counters() == {"ws_hits": 2, "cache_hits": 0, "cache_misses": 0, "rest_calls": 0}

        await client.pause_market_data_streams()  # no live book: REST once, then the cache
        d1 = await prices.fetch_depth(client, "ETH", 10)
        d2 = await prices.fetch_depth(client, "ETH", 10)
        bid, ask = await prices.fetch_bbo(client, "ETH")
        assert d1 is d2 and (bid, ask) == (d1["bids"][0]["price"], d1["asks"][0]["price"])
        assert prices.rest_calls == 1 and prices.hits == 2

        # a fill on that market invalidates the cached depth: the next read goes to REST again
        leg = await LegExecutor(client, prices).execute("ETH", Side.BUY, Decimal("0.01"), use_limit=False)
        assert leg.filled == Decimal("0.01")
        assert await prices.cached("lighter", "ETH") is None
        await prices.fetch_depth(client, "ETH", 10)
        assert prices.rest_calls >= 2


@pytest.fixture
async def redis_url():
    exe = shutil.which("redis-server")
    assert exe, "redis-server is needed (make test installs Debian's redis-server)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_redis_cache_is_shared_between_instances_exact_and_expires(redis_url):
    a = PriceProvider(cache_ttl_s=0.5, cache=RedisDepthCache(redis_url))
    b = PriceProvider(cache_ttl_s=0.5, cache=RedisDepthCache(redis_url))
    depth = {"bids": [{"price": Decimal("2.9403"), "size": Decimal("1500.1")}],
             "asks": [{"price": Decimal("2.9411"), "size": Decimal("0.0001")}]}
    try:
        await a.cache_order_book("lighter", "0G", depth)
        assert await b.cached("lighter", "0G") == depth  # another bot instance sees it, exactly
        await b.invalidate("lighter", "0G")
        assert await a.cached("lighter", "0G") is None
        await a.cache_order_book("lighter", "0G", depth)
        await asyncio.sleep(0.7)
        assert await b.cached("lighter", "0G") is None  # expired with the TTL
    finally:
        await a.close()
        await b.close()
