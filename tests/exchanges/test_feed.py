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
        assert client.feed_depth("BTC", 5) is not None

        await client.pause_market_data_streams()
        stats = client.feed.stats()
        assert stats["state"] == "paused" and set(stats["symbols"]) == {"BTC", "ETH"}
        before = client.feed.frames_received
        assert await _frames_settle(client.feed, 0.6) == before  # no market-data traffic at all
        assert client.feed_depth("BTC", 5) is None  # a paused book is not served
        assert not client.feed.is_ready("ETH")

        await client.resume_market_data_streams()
        assert await client.feed.wait_ready("BTC", 10) and await client.feed.wait_ready("ETH", 10)
        assert client.feed.frames_received > before
        depth = client.feed_depth("ETH", 5)
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


FAULTS = ["gap", "malformed", "drop", "stall"]


async def _watch(client, symbol: str, seconds: float) -> int:
    """Poll the served book for ``seconds``: it must never be crossed; returns how many polls
    found no book served."""
    unserved = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        depth = client.feed_depth(symbol, 5)
        if depth is None:
            unserved += 1
        elif depth["bids"] and depth["asks"]:
            assert depth["bids"][0]["price"] < depth["asks"][0]["price"]
        await asyncio.sleep(0.02)
    return unserved


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_injected_faults_never_serve_a_bad_book_and_recover(exchange, fault, tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        client = rt.clients[exchange]
        await client.connect()
        feed = client.feed
        feed.stale_after = 0.5  # a stalled socket must stop being served quickly
        for sym in ("BTC", "ETH"):
            await client.prepare_market_feed(sym)
        assert await feed.wait_ready("BTC", 10) and await feed.wait_ready("ETH", 10)
        before = feed.stats()
        venue = rt.cluster.sim.venue(exchange)
        venue.faults.inject(fault, symbol="BTC" if fault in ("gap", "malformed") else None)

        unserved = await _watch(client, "BTC", 3.0)
        assert await feed.wait_ready("BTC", 10) and await feed.wait_ready("ETH", 10)
        await _watch(client, "ETH", 0.3)
        after = feed.stats()
        assert venue.faults.pending(fault, "BTC") == 0, "the fault was never triggered"
        if fault == "drop":
            assert after["reconnects"] > before["reconnects"]
        elif fault == "malformed":
            assert after["dropped"] > before["dropped"]
        elif fault == "stall":
            assert unserved > 0  # the stale book was withheld while frames were held back
        elif fault == "gap" and exchange in ("lighter", "backpack", "paradex"):
            assert after["resyncs"] > before["resyncs"]  # delta feeds resync; Aster's depth20 frames are full books
