"""BackpackMarketFeed against the emulated Backpack over loopback: REST snapshot + ``depth.<sym>``
deltas synced by U/u, ``bookTicker`` BBO, gaps, malformed frames, dropped sockets."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from perpdex.errors import StaleMarketData
from perpdex.exchanges.backpack import BackpackMarketFeed
from tests.waiting import eventually

from .conftest import make_feed


def _same_as_venue(feed: BackpackMarketFeed, venue: Any, symbol: str) -> bool:
    try:
        book = feed.book(symbol)
    except StaleMarketData:
        return False
    bids, asks = venue.book(symbol)
    return book.sequence == venue.sequence(symbol) and book.bids() == bids and book.asks() == asks


@pytest.fixture
async def feed(stepped: dict[str, Any]):
    f = make_feed(stepped)
    try:
        yield f
    finally:
        await f.close()


async def test_d03_snapshot_then_deltas_equal_emulator_book(stepped: dict[str, Any], feed: BackpackMarketFeed) -> None:
    venue, sim = stepped["venue"], stepped["cluster"].sim
    await feed.prepare_many(["ETH", "BTC"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("BTC", 5)
    assert feed.snapshots == 2
    await eventually(lambda: len(stepped["dialect"].subscriptions()) == 1
                     and len(stepped["dialect"].subscriptions()[0]) == 4, what="both symbols subscribed")
    before = feed.frames_received
    for _ in range(5):
        sim.step()
    await eventually(lambda: feed.frames_received > before, what="deltas received")
    for sym in ("ETH", "BTC"):
        await eventually(lambda sym=sym: _same_as_venue(feed, venue, sym), what=f"{sym} book equal to the emulator's")
    assert len(feed.book("ETH").bids()) == venue.market("ETH").levels
    assert feed.snapshots == 2 and feed.frames_dropped == 0  # deltas only after the snapshot


async def test_d04_gap_resyncs(stepped: dict[str, Any], feed: BackpackMarketFeed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    venue, sim = stepped["venue"], stepped["cluster"].sim
    await feed.prepare_many(["ETH", "BTC"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("BTC", 5)
    await eventually(lambda: sum(map(len, stepped["dialect"].subscriptions())) == 4, what="subscribed")
    venue.faults.inject("gap", symbol="ETH")
    sim.step()  # the ETH event skips one sequence number: U != previous u + 1
    await eventually(lambda: "sequence gap" in caplog.text, what="gap detected")
    assert "backpack ETH" in caplog.text
    await eventually(lambda: feed.snapshots == 3, what="fresh ETH snapshot")
    assert await feed.wait_ready("ETH", 5)
    sim.step()
    await eventually(lambda: _same_as_venue(feed, venue, "ETH"), what="ETH equal after resync")
    await eventually(lambda: _same_as_venue(feed, venue, "BTC"), what="BTC untouched by the ETH gap")
    assert caplog.text.count("sequence gap") == 1


async def test_d07_bbo_from_book_ticker_without_rest(stepped: dict[str, Any], feed: BackpackMarketFeed) -> None:
    venue, sim = stepped["venue"], stepped["cluster"].sim
    await feed.prepare("SOL")
    assert await feed.wait_ready("SOL", 5)
    snapshots = feed.snapshots
    for _ in range(3):
        sim.step()
    (bid, bid_size), (ask, ask_size) = venue.bbo("SOL")
    await eventually(lambda: feed.state("SOL").bbo is not None and feed.state("SOL").bbo[:4] == (bid, bid_size, ask, ask_size),
                     what="bookTicker BBO equal to the emulator's")
    bbo = feed.bbo("SOL")
    assert (float(bbo.bid), float(bbo.ask)) == (bid, ask) and bbo.bid < bbo.ask
    assert feed.snapshots == snapshots  # no REST call for the BBO


async def test_d08_on_demand_and_several_symbols(stepped: dict[str, Any], feed: BackpackMarketFeed) -> None:
    venue = stepped["venue"]
    await feed.prepare("ETH")
    assert await feed.wait_ready("ETH", 5)
    assert not feed.is_ready("BTC")
    for sym in ("BTC", "SOL", "0G"):  # on demand, on the open socket
        await feed.prepare(sym)
    for sym in ("BTC", "SOL", "0G"):
        assert await feed.wait_ready(sym, 5)
        assert _same_as_venue(feed, venue, sym)
    assert sorted(feed.symbols) == ["0G", "BTC", "ETH", "SOL"]
    assert feed.reconnects == 0
    assert sorted(stepped["dialect"].subscriptions()[0]) == sorted(
        f"{k}.{s}_USDC_PERP" for k in ("bookTicker", "depth") for s in ("0G", "BTC", "ETH", "SOL"))
    await feed.remove("SOL")
    await eventually(lambda: "depth.SOL_USDC_PERP" not in stepped["dialect"].subscriptions()[0], what="unsubscribed")


async def test_d11_malformed_frame_dropped_book_resyncs(stepped: dict[str, Any], feed: BackpackMarketFeed,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    venue, sim = stepped["venue"], stepped["cluster"].sim
    await feed.prepare_many(["ETH", "BTC"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("BTC", 5)
    await eventually(lambda: sum(map(len, stepped["dialect"].subscriptions())) == 4, what="subscribed")
    venue.faults.inject("malformed", symbol="ETH")
    sim.step()
    await eventually(lambda: feed.frames_dropped == 1, what="malformed frame dropped")
    assert "backpack feed: dropped malformed frame" in caplog.text
    await eventually(lambda: feed.snapshots == 3, what="ETH resynced from a fresh snapshot")
    sim.step()
    await eventually(lambda: _same_as_venue(feed, venue, "ETH"), what="ETH equal after the malformed frame")
    await eventually(lambda: _same_as_venue(feed, venue, "BTC"), what="BTC kept going")


async def test_d10_reconnect_after_drop_no_ghost_levels(stepped: dict[str, Any], feed: BackpackMarketFeed) -> None:
    venue, sim = stepped["venue"], stepped["cluster"].sim
    await feed.prepare_many(["ETH", "XRP"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("XRP", 5)
    venue.faults.inject("drop")
    await eventually(lambda: feed.reconnects == 1, what="socket dropped and reopened")
    for _ in range(30):  # the market moves while (and after) the socket is down
        sim.step()
    for sym in ("ETH", "XRP"):
        await eventually(lambda sym=sym: _same_as_venue(feed, venue, sym), what=f"{sym} resubscribed and equal")
    assert feed.snapshots == 4


async def test_d03_sync_while_the_market_moves(bp: dict[str, Any]) -> None:
    """Deltas keep arriving while the snapshot is fetched: they are buffered, the ones the
    snapshot already holds are dropped and the rest applied in U/u order."""
    venue, sim = bp["venue"], bp["cluster"].sim
    feed = make_feed(bp)
    try:
        await feed.prepare_many(["BTC", "DOGE", "CRV"])
        for sym in ("BTC", "DOGE", "CRV"):
            assert await feed.wait_ready(sym, 5)
        frames = feed.frames_received
        await eventually(lambda: feed.frames_received > frames + 20, what="live deltas applied")
        await sim.stop()  # freeze, then compare with the emulator's book
        sim.step()
        for sym in ("BTC", "DOGE", "CRV"):
            await eventually(lambda sym=sym: _same_as_venue(feed, venue, sym), what=f"{sym} equal to the emulator's")
        assert feed.frames_dropped == 0
    finally:
        await feed.close()


async def test_d11_unknown_symbol_error_frame_does_not_disturb_others(stepped: dict[str, Any], feed: BackpackMarketFeed,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare_many(["NOPE", "ETH"])
    assert await feed.wait_ready("ETH", 5)
    await eventually(lambda: feed.frames_dropped >= 1, what="the error frame for depth.NOPE_USDC_PERP dropped")
    await eventually(lambda: "NOPE: depth snapshot failed" in caplog.text, what="snapshot failure logged")
    assert "Invalid stream" in caplog.text and not feed.is_ready("NOPE")
    stepped["cluster"].sim.step()
    await eventually(lambda: _same_as_venue(feed, stepped["venue"], "ETH"), what="ETH unaffected")
