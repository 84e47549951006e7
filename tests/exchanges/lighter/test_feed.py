"""LighterMarketFeed against the emulated Lighter (order_book/<market_id> over loopback)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from perpdex.errors import StaleMarketData
from perpdex.exchanges.lighter import LighterMarketFeed
from tests.waiting import eventually


def _same_as_venue(feed: LighterMarketFeed, venue: Any, symbol: str) -> bool:
    try:
        book = feed.book(symbol)
    except StaleMarketData:
        return False
    bids, asks = venue.book(symbol)
    return book.bids() == bids and book.asks() == asks


async def _freeze(lighter: dict[str, Any]) -> None:
    """Stop the market task: the test steps the market by hand from here on."""
    await lighter["cluster"].sim.stop()


async def test_d08_on_demand_and_several_markets(lighter: dict[str, Any], feed: LighterMarketFeed) -> None:
    await feed.prepare("ETH")
    assert await feed.wait_ready("ETH", 5)
    assert not feed.is_ready("BTC")
    await feed.prepare("BTC")  # on demand, on the open socket
    await feed.prepare("SOL")
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("SOL", 5)
    assert sorted(feed.symbols) == ["BTC", "ETH", "SOL"]
    assert feed.reconnects == 0
    with pytest.raises(KeyError):
        await feed.prepare("NOPE")


async def test_d03_snapshot_then_deltas_equal_emulator_book(lighter: dict[str, Any], feed: LighterMarketFeed) -> None:
    await feed.prepare_many(["ETH", "BTC"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("BTC", 5)
    await _freeze(lighter)
    venue = lighter["venue"]
    before = feed.frames_received
    for _ in range(5):
        lighter["cluster"].sim.step()
    await eventually(lambda: feed.frames_received > before, what="deltas received")
    for sym in ("ETH", "BTC"):
        await eventually(lambda sym=sym: _same_as_venue(feed, venue, sym), what=f"{sym} book equal to the emulator's")
    assert len(feed.book("ETH").bids()) == venue.market("ETH").levels
    assert feed.frames_dropped == 0


async def test_d04_gap_resyncs(lighter: dict[str, Any], feed: LighterMarketFeed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare_many(["ETH", "BTC"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("BTC", 5)
    await _freeze(lighter)
    venue = lighter["venue"]
    venue.faults.inject("gap", symbol="ETH")
    lighter["cluster"].sim.step()
    await eventually(lambda: "nonce gap" in caplog.text, what="gap detected")
    assert "ETH" in caplog.text
    assert await feed.wait_ready("ETH", 5)  # resubscribed: fresh snapshot
    lighter["cluster"].sim.step()
    await eventually(lambda: _same_as_venue(feed, venue, "ETH"), what="ETH equal after resync")
    await eventually(lambda: _same_as_venue(feed, venue, "BTC"), what="BTC untouched by the ETH gap")
    assert caplog.text.count("nonce gap") == 1


async def test_d11_malformed_frame_dropped_feed_continues(lighter: dict[str, Any], feed: LighterMarketFeed,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare("ETH")
    assert await feed.wait_ready("ETH", 5)
    await _freeze(lighter)
    venue = lighter["venue"]
    venue.faults.inject("malformed", symbol="ETH")
    lighter["cluster"].sim.step()
    await eventually(lambda: feed.frames_dropped == 1, what="malformed frame dropped")
    assert "lighter feed: dropped malformed frame" in caplog.text
    lighter["cluster"].sim.step()
    await eventually(lambda: _same_as_venue(feed, venue, "ETH"), what="book still follows the emulator")
    assert "nonce gap" not in caplog.text


async def test_d10_reconnect_after_drop_resubscribes_everything(lighter: dict[str, Any], feed: LighterMarketFeed) -> None:
    await feed.prepare_many(["ETH", "XRP"])
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("XRP", 5)
    lighter["venue"].faults.inject("drop")
    await eventually(lambda: feed.reconnects >= 1, what="reconnect")
    assert await feed.wait_ready("ETH", 5) and await feed.wait_ready("XRP", 5)
    await _freeze(lighter)
    lighter["cluster"].sim.step()
    for sym in ("ETH", "XRP"):
        await eventually(lambda sym=sym: _same_as_venue(feed, lighter["venue"], sym), what=f"{sym} without ghost levels")


async def test_d06_stale_book_not_served(lighter: dict[str, Any]) -> None:
    ep = lighter["ep"]
    feed = LighterMarketFeed(ep["ws_url"], rest_url=ep["rest_url"], stale_after=0.3)
    try:
        await feed.prepare("AAVE")
        assert await feed.wait_ready("AAVE", 5)
        await _freeze(lighter)  # no more updates

        def stale() -> bool:
            try:
                feed.book("AAVE")
                return False
            except StaleMarketData:
                return True

        await eventually(stale, what="book reported stale")
        assert not feed.is_ready("AAVE")
    finally:
        await feed.close()


async def test_d06_stalled_socket_goes_stale_then_recovers(lighter: dict[str, Any]) -> None:
    ep = lighter["ep"]
    feed = LighterMarketFeed(ep["ws_url"], rest_url=ep["rest_url"], stale_after=0.5)
    try:
        await feed.prepare("ETH")
        assert await feed.wait_ready("ETH", 5)
        lighter["venue"].faults.inject("stall")  # the market keeps moving, the socket holds frames back
        await eventually(lambda: not feed.is_ready("ETH"), what="book reported stale during the stall")
        with pytest.raises(StaleMarketData):
            feed.book("ETH")
        await eventually(lambda: feed.is_ready("ETH"), what="fresh again after the stall")
        await _freeze(lighter)
        lighter["cluster"].sim.step()
        await eventually(lambda: _same_as_venue(feed, lighter["venue"], "ETH"), what="in step after the stall")
    finally:
        await feed.close()
