"""AsterMarketFeed against the emulator over loopback WebSockets (D03, D04, D05, D07, D08, D10, D11)."""

from __future__ import annotations

import logging

import pytest

from perpdex.errors import StaleMarketData
from perpdex.exchanges.aster.feed import AsterMarketFeed

from .conftest import until


def _feed(cluster, **kw) -> AsterMarketFeed:
    ep = cluster.endpoints["aster"]
    return AsterMarketFeed(ep["ws_url"], ep["rest_url"], **kw)


def _same_top(feed: AsterMarketFeed, venue, sym: str, n: int = 20) -> bool:
    bids, asks = venue.book(sym, n)
    book = feed.state(sym).book
    return feed.is_ready(sym) and book.bids() == bids and book.asks() == asks


async def test_d08_on_demand_subscribe_several_symbols(emulators):
    dialect = emulators.dialects["aster"]
    feed = _feed(emulators)
    try:
        assert dialect.subscriptions() == []  # nothing at startup: no connection, no stream
        await feed.prepare("BTC")
        assert await feed.wait_ready("BTC", 5)
        assert dialect.subscriptions() == [["btcusdt@depth20@100ms", "btcusdt@bookTicker"]]
        await feed.prepare_many(["ETH", "SOL"])  # later symbols on the same socket
        assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("SOL", 5)
        subs = dialect.subscriptions()
        assert len(subs) == 1 and set(subs[0]) == {
            f"{s}usdt@{k}" for s in ("btc", "eth", "sol") for k in ("depth20@100ms", "bookTicker")}
        for sym in ("BTC", "ETH", "SOL"):
            depth = feed.book(sym).depth(5)
            assert len(depth["bids"]) == 5 and depth["bids"][0]["price"] < depth["asks"][0]["price"]
        await feed.remove("SOL")
        assert await until(lambda: "solusdt@bookTicker" not in dialect.subscriptions()[0])
        assert not feed.is_ready("SOL")
    finally:
        await feed.close()


async def test_d03_depth20_snapshot_replaces_book(stepped):
    venue = stepped.sim.venues["aster"]
    feed = _feed(stepped)
    try:
        await feed.prepare("BTC")
        assert await feed.wait_ready("BTC", 5)
        assert await until(lambda: _same_top(feed, venue, "BTC"))
        before = feed.state("BTC").book.bids()
        for _ in range(5):
            stepped.sim.step()  # the index moves, makers requote
        assert venue.book("BTC", 20)[0] != before
        assert await until(lambda: _same_top(feed, venue, "BTC"))
        # a replacement, not an accumulation: exactly the top 20 per side, no ghost levels
        assert len(feed.state("BTC").book.bids()) == 20 and len(feed.state("BTC").book.asks()) == 20
    finally:
        await feed.close()


async def test_d04_diff_mode_gap_marks_not_ready_then_resyncs(stepped):
    venue = stepped.sim.venues["aster"]
    feed = _feed(stepped, depth_mode="diff")
    full = lambda: feed.is_ready("BTC") and (feed.state("BTC").book.bids(), feed.state("BTC").book.asks()) == venue.book("BTC")  # noqa: E731
    try:
        await feed.prepare("BTC")
        assert await until(lambda: bool(stepped.dialects["aster"].subscriptions()))
        for _ in range(50):  # diff events drive the REST-snapshot join
            stepped.sim.step()
            if await until(full, 0.1):
                break
        assert full()
        stepped.sim.step()
        assert await until(full)
        venue.faults.inject("gap", symbol="BTC")
        stepped.sim.step()  # this update's pu skips the previous u
        assert await until(lambda: feed.gaps == 1)
        assert not feed.is_ready("BTC")
        with pytest.raises(StaleMarketData):
            feed.book("BTC")
        for _ in range(50):  # the next events let the fresh snapshot join
            stepped.sim.step()
            if await until(full, 0.1):
                break
        assert full() and feed.gaps == 1
    finally:
        await feed.close()


async def test_d05_crossed_book_not_served():
    feed = AsterMarketFeed("ws://127.0.0.1:9/fstream")  # never connected: frames fed by hand
    feed.subscribe_frames("BTC")
    feed.state("BTC")
    ok = (b'{"stream":"btcusdt@depth20@100ms","data":{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"pu":0,'
          b'"b":[["100.0","1"]],"a":[["100.1","1"]]}}')
    crossed = ok.replace(b'"100.1"', b'"99.9"')
    feed.handle_frame(ok)
    assert feed.is_ready("BTC")
    feed.handle_frame(crossed)
    assert not feed.is_ready("BTC")
    with pytest.raises(StaleMarketData):
        feed.book("BTC")
    feed.handle_frame(ok)
    assert feed.is_ready("BTC") and feed.book("BTC").best_bid() == (100.0, 1.0)
    await feed.close()


async def test_d07_bbo_from_book_ticker_stream(stepped):
    venue = stepped.sim.venues["aster"]
    feed = _feed(stepped)
    try:
        await feed.prepare("ETH")
        assert await feed.wait_ready("ETH", 5)

        def bbo_matches() -> bool:
            st = feed.state("ETH").bbo
            (b, bs), (a, as_) = venue.bbo("ETH")
            return st is not None and st[:4] == (b, bs, a, as_)

        for _ in range(20):  # bookTicker is sent on top-of-book change
            stepped.sim.step()
            if await until(bbo_matches, 0.2):
                break
        assert bbo_matches()
        bbo = feed.bbo("ETH")
        (b, _), (a, _) = venue.bbo("ETH")
        assert (float(bbo.bid), float(bbo.ask)) == (b, a)
    finally:
        await feed.close()


@pytest.mark.parametrize("mode", ["partial", "diff"])
async def test_d11_malformed_frame_dropped_feed_continues(emulators, caplog, mode):
    venue = emulators.sim.venues["aster"]
    feed = _feed(emulators, depth_mode=mode)
    try:
        await feed.prepare_many(["BTC", "ETH"])
        assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("ETH", 5)
        with caplog.at_level(logging.WARNING):
            venue.faults.inject("malformed", symbol="BTC")
            assert await until(lambda: feed.frames_dropped == 1)
        assert any("aster" in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records)
        seen = feed.frames_received
        assert await until(lambda: feed.frames_received > seen + 10)  # still streaming
        assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("ETH", 5)
        assert feed.frames_dropped == 1
    finally:
        await feed.close()


async def test_d11_error_and_unknown_frames_dropped():
    feed = AsterMarketFeed("ws://127.0.0.1:9/fstream")
    feed.subscribe_frames("BTC")
    feed.state("BTC")
    for bad in (b'{"code": 2, "msg": "Invalid request: unknown method"}',
                b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}',
                b'{"stream":"btcusdt@depth20@100ms"}', b"\xff\x00", b"[]"):
        with pytest.raises(Exception):  # noqa: B017 - any decode error will do: what matters is the feed survives
            feed.handle_frame(bad)
    feed.handle_frame(b'{"result": null, "id": 1}')  # a subscription ack is fine
    assert not feed.is_ready("BTC")
    await feed.close()


async def test_d10_reconnect_after_drop_resubscribes_without_ghost_levels(stepped):
    venue = stepped.sim.venues["aster"]
    feed = _feed(stepped, reconnect_delay=0.05)
    try:
        await feed.prepare_many(["BTC", "SOL"])
        assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("SOL", 5)
        venue.faults.inject("drop")
        assert await until(lambda: feed.reconnects == 1)
        for _ in range(3):
            stepped.sim.step()
        assert await until(lambda: _same_top(feed, venue, "BTC") and _same_top(feed, venue, "SOL"))
        assert len(stepped.dialects["aster"].subscriptions()) == 1
    finally:
        await feed.close()
