"""AsterMarketFeed against the emulator over loopback WebSockets (D03, D04, D05, D07, D08, D10, D11)."""

from __future__ import annotations

import logging

import pytest

from perpdex.errors import StaleMarketData
from perpdex.exchanges.aster.feed import AsterMarketFeed
from tests.waiting import eventually


def _feed(cluster, **kw) -> AsterMarketFeed:
    ep = cluster.endpoints["aster"]
    return AsterMarketFeed(ep["ws_url"], ep["rest_url"], **kw)


async def _step_until(cluster, cond, what: str, steps: int, settle: float) -> None:
    """Step the stopped market once every ``settle`` seconds until ``cond`` holds; fails naming
    ``what`` when it does not after ``steps`` steps."""
    done = 0

    def stepped() -> bool:
        nonlocal done
        if cond():
            return True
        if done == steps:
            raise AssertionError(f"{what}: not after {steps} market steps")
        cluster.sim.step()
        done += 1
        return False

    await eventually(stepped, what, interval=settle)


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
        await eventually(lambda: "solusdt@bookTicker" not in dialect.subscriptions()[0], "SOL unsubscribed")
        assert not feed.is_ready("SOL")
    finally:
        await feed.close()


async def test_d03_depth20_snapshot_replaces_book(stepped):
    venue = stepped.sim.venues["aster"]
    feed = _feed(stepped)
    try:
        await feed.prepare("BTC")
        assert await feed.wait_ready("BTC", 5)
        await eventually(lambda: _same_top(feed, venue, "BTC"), "the feed's BTC top 20 equal to the venue's")
        before = feed.state("BTC").book.bids()
        for _ in range(5):
            stepped.sim.step()  # the index moves, makers requote
        assert venue.book("BTC", 20)[0] != before
        await eventually(lambda: _same_top(feed, venue, "BTC"), "the feed's BTC top 20 equal to the venue's")
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
        await eventually(lambda: bool(stepped.dialects["aster"].subscriptions()), "the BTC subscription")
        # diff events drive the REST-snapshot join
        await _step_until(stepped, full, "the diff book joined to its snapshot", steps=50, settle=0.1)
        stepped.sim.step()
        await eventually(full, "the diff book following a step")
        venue.faults.inject("gap", symbol="BTC")
        stepped.sim.step()  # this update's pu skips the previous u
        await eventually(lambda: feed.gaps == 1, "the sequence gap seen")
        assert not feed.is_ready("BTC")
        with pytest.raises(StaleMarketData):
            feed.book("BTC")
        # the next events let the fresh snapshot join
        await _step_until(stepped, full, "the book resynced after the gap", steps=50, settle=0.1)
        assert feed.gaps == 1
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

        # bookTicker is sent on top-of-book change
        await _step_until(stepped, bbo_matches, "the feed's ETH BBO equal to the venue's", steps=20, settle=0.2)
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
            await eventually(lambda: feed.frames_dropped == 1, "the malformed frame dropped")
        assert any("aster" in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records)
        seen = feed.frames_received
        await eventually(lambda: feed.frames_received > seen + 10, "10 more frames")  # still streaming
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
        await eventually(lambda: feed.reconnects == 1, "one reconnect")
        for _ in range(3):
            stepped.sim.step()
        await eventually(lambda: _same_top(feed, venue, "BTC") and _same_top(feed, venue, "SOL"),
                         "BTC and SOL books equal to the venue's after the reconnect")
        assert len(stepped.dialects["aster"].subscriptions()) == 1
    finally:
        await feed.close()
