"""The shared feed lifecycle (``exchanges/feed.py``) on every exchange, against the emulator:
D09 pause/resume, several symbols, counters."""

from __future__ import annotations

import asyncio

import pytest

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.exchanges import registry

EXCHANGES = registry.names()


async def _frames_settle(feed, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return feed.frames_received


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_d09_pause_stops_market_data_and_resume_brings_ready_books_back(exchange, tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        client = rt.clients[exchange]
        await client.connect()
        for sym in ("BTC", "ETH"):
            await client.prepare_market_feed(sym)
        assert await client.feed.wait_ready("BTC", 10) and await client.feed.wait_ready("ETH", 10)
        assert await client.get_order_book_from_websocket("BTC", 5) is not None

        await client.pause_market_data_streams()
        stats = client.feed.stats()
        assert stats["state"] == "paused" and set(stats["symbols"]) == {"BTC", "ETH"}
        before = client.feed.frames_received
        assert await _frames_settle(client.feed, 0.6) == before  # no market-data traffic at all
        assert await client.get_order_book_from_websocket("BTC", 5) is None  # a paused book is not served
        assert not client.feed.is_ready("ETH")

        await client.resume_market_data_streams()
        assert await client.feed.wait_ready("BTC", 10) and await client.feed.wait_ready("ETH", 10)
        assert client.feed.frames_received > before
        depth = await client.get_order_book_from_websocket("ETH", 5)
        assert depth is not None and depth["bids"][0]["price"] < depth["asks"][0]["price"]

        # prepare_market_feed on a paused feed resumes it too (the strategy's path)
        await client.pause_market_data_streams()
        await client.prepare_market_feed("SOL")
        assert await client.feed.wait_ready("SOL", 10) and await client.feed.wait_ready("BTC", 10)
        assert client.feed.stats()["state"] == "connected"


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_connection_rotation_resubscribes_every_symbol(exchange, tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        client = rt.clients[exchange]
        await client.connect()
        client.feed.max_connection_age = 0.7  # the exchange's lifetime limit, shortened
        for sym in ("BTC", "ETH"):
            await client.prepare_market_feed(sym)
        deadline = asyncio.get_running_loop().time() + 10
        while client.feed.rotations < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert client.feed.rotations >= 2
        assert await client.feed.wait_ready("BTC", 10) and await client.feed.wait_ready("ETH", 10)
        book = client.feed.book("ETH")
        assert not book.is_crossed() and len(book) > 0
