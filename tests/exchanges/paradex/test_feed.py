"""ParadexMarketFeed against the emulated Paradex over loopback, in JSON and in SBE binary."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from perpdex.errors import StaleMarketData
from perpdex.exchanges.paradex import ParadexFundingAdapter, ParadexMarketFeed
from tests.waiting import eventually

ENCODINGS = [pytest.param(None, id="json"), pytest.param(3, id="sbe")]


@pytest.fixture(params=ENCODINGS)
async def feed(request: pytest.FixtureRequest, paradex: dict[str, Any]) -> AsyncIterator[ParadexMarketFeed]:
    f = ParadexMarketFeed(paradex["ep"]["ws_url"], sbe_version=request.param)
    try:
        yield f
    finally:
        await f.close()


def _same_as_venue(feed: ParadexMarketFeed, venue: Any, symbol: str) -> bool:
    try:
        book = feed.book(symbol)
    except StaleMarketData:
        return False
    bids, asks = venue.book(symbol)
    return book.bids() == bids and book.asks() == asks


async def test_d03_snapshot_then_deltas_equal_emulator_book(paradex: dict[str, Any], feed: ParadexMarketFeed) -> None:
    await feed.prepare_many(["BTC", "ETH"])
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("ETH", 5)
    await paradex["cluster"].sim.stop()
    venue = paradex["venue"]
    before = feed.frames_received
    for _ in range(5):
        paradex["cluster"].sim.step()
    await eventually(lambda: feed.frames_received > before + 5, what="deltas received")
    for sym in ("BTC", "ETH"):
        await eventually(lambda sym=sym: _same_as_venue(feed, venue, sym), what=f"{sym} book equal to the emulator's")
    assert len(feed.book("BTC").bids()) == venue.market("BTC").levels  # the delta feed carries the whole book
    assert feed.frames_dropped == 0


async def test_d04_injected_gap_resyncs(paradex: dict[str, Any], feed: ParadexMarketFeed,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare_many(["BTC", "ETH"])
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("ETH", 5)
    await paradex["cluster"].sim.stop()
    venue = paradex["venue"]
    venue.faults.inject("gap", symbol="BTC")
    paradex["cluster"].sim.step()
    await eventually(lambda: "seq_no gap" in caplog.text, what="gap detected")
    assert await feed.wait_ready("BTC", 5)  # resubscribed, fresh snapshot
    for _ in range(3):
        paradex["cluster"].sim.step()
    await eventually(lambda: _same_as_venue(feed, venue, "BTC"), what="BTC equal after resync")
    await eventually(lambda: _same_as_venue(feed, venue, "ETH"), what="ETH untouched by BTC's gap")
    invalidated = [r.getMessage() for r in caplog.records if "invalidated" in r.getMessage()]
    assert invalidated and all(" BTC:" in m for m in invalidated)
    assert feed.reconnects == 0


async def test_d07_bbo_stream_without_rest(paradex: dict[str, Any], feed: ParadexMarketFeed) -> None:
    await feed.prepare("SOL")
    assert await feed.wait_ready("SOL", 5)
    await paradex["cluster"].sim.stop()
    venue = paradex["venue"]
    paradex["cluster"].sim.step()
    (bid, bsz), (ask, asz) = venue.bbo("SOL")

    def bbo_matches() -> bool:
        st = feed.state("SOL").bbo
        return st is not None and st[:4] == (bid, bsz, ask, asz)

    await eventually(bbo_matches, what="bbo stream equal to the venue's top of book")
    b = feed.bbo("SOL")
    assert float(b.bid) == bid and float(b.ask) == ask


async def test_d08_on_demand_and_several_markets(paradex: dict[str, Any], feed: ParadexMarketFeed) -> None:
    await feed.prepare("ETH")
    assert await feed.wait_ready("ETH", 5)
    assert not feed.is_ready("BTC")
    await feed.prepare("BTC")  # on demand, on the open socket
    await feed.prepare("DOGE")
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("DOGE", 5)
    assert sorted(feed.symbols) == ["BTC", "DOGE", "ETH"]
    assert feed.reconnects == 0


async def test_d11_malformed_and_error_frames_dropped_feed_continues(
        paradex: dict[str, Any], feed: ParadexMarketFeed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare("BTC")
    assert await feed.wait_ready("BTC", 5)
    await paradex["cluster"].sim.stop()
    venue = paradex["venue"]
    venue.faults.inject("malformed", symbol="BTC")
    paradex["cluster"].sim.step()
    await eventually(lambda: feed.frames_dropped >= 1, what="malformed frame dropped")
    # an error frame from the server (invalid channel) is logged and dropped too
    await feed.send_json({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "order_book.NOPE-USD-PERP.deltas"}, "id": 99})
    await eventually(lambda: feed.frames_dropped >= 2, what="error frame dropped")
    assert "paradex feed: dropped malformed frame" in caplog.text
    for _ in range(3):
        paradex["cluster"].sim.step()
    assert await feed.wait_ready("BTC", 5)
    await eventually(lambda: _same_as_venue(feed, venue, "BTC"), what="BTC book consistent after the bad frame")
    assert feed.reconnects == 0


async def test_snapshot_feed_keeps_highest_seq(paradex: dict[str, Any]) -> None:
    for sbe in (None, 3):
        f = ParadexMarketFeed(paradex["ep"]["ws_url"], mode="snapshot", sbe_version=sbe)
        try:
            await f.prepare("ETH")
            assert await f.wait_ready("ETH", 5)
            seq = f.book("ETH").sequence
            assert seq is not None and len(f.book("ETH").bids()) == 15  # a full depth-15 book
            await eventually(lambda f=f, seq=seq: (f.book("ETH").sequence or 0) > seq, what="newer snapshot applied")
            st = f.state("ETH")
            newest = st.book.sequence
            st.book.apply_snapshot([(1.0, 1.0)], [(2.0, 1.0)], newest + 1_000_000)  # a "newer" book
            # an older snapshot (any real one now) never replaces it
            f._on_book("ETH", newest, True, [(3.0, 1.0)], [(4.0, 1.0)])
            assert st.book.bids() == [(1.0, 1.0)]
        finally:
            await f.close()


async def test_d10_reconnect_after_drop_resubscribes_without_ghost_levels(
        paradex: dict[str, Any], feed: ParadexMarketFeed) -> None:
    await feed.prepare_many(["BTC", "XRP"])
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("XRP", 5)
    paradex["venue"].faults.inject("drop")
    await eventually(lambda: feed.reconnects >= 1, what="socket dropped and reconnected")
    assert await feed.wait_ready("BTC", 5) and await feed.wait_ready("XRP", 5)
    await paradex["cluster"].sim.stop()
    for _ in range(3):
        paradex["cluster"].sim.step()
    for sym in ("BTC", "XRP"):
        await eventually(lambda sym=sym: _same_as_venue(feed, paradex["venue"], sym), what=f"{sym} equal after reconnect")


async def test_d05_crossed_book_not_served_and_resynced(paradex: dict[str, Any], feed: ParadexMarketFeed,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await feed.prepare("ETH")
    assert await feed.wait_ready("ETH", 5)
    await paradex["cluster"].sim.stop()
    book = feed.state("ETH").book
    best_ask = book.asks(1)[0][0]
    # a delta that puts a bid above the best ask, next in sequence
    feed._on_book("ETH", book.sequence + 1, False, [(best_ask + 1.0, 1.0)], [])
    assert not feed.is_ready("ETH")
    with pytest.raises(StaleMarketData):
        feed.book("ETH")
    assert "crossed book" in caplog.text
    assert await feed.wait_ready("ETH", 5)  # resubscribed: fresh snapshot
    assert _same_as_venue(feed, paradex["venue"], "ETH")


async def test_d06_stale_book_not_served(paradex: dict[str, Any]) -> None:
    f = ParadexMarketFeed(paradex["ep"]["ws_url"], stale_after=0.3)
    try:
        await f.prepare("INJ")
        assert await f.wait_ready("INJ", 5)
        await paradex["cluster"].sim.stop()  # no more book events
        updated = f.state("INJ").book.updated_at

        def stale() -> bool:
            try:
                f.book("INJ")
                return False
            except StaleMarketData:
                return True

        await eventually(stale, what="book reported stale")
        assert f.state("INJ").book.updated_at == updated  # nothing arrived: stale, not crossed or reset
    finally:
        await f.close()


@pytest.mark.parametrize("sbe", ENCODINGS)
async def test_funding_stream_gives_the_rest_rate(paradex: dict[str, Any], sbe: int | None) -> None:
    """``funding_data.<market>`` (JSON push or SBE FundingDataEvent) decodes to the sample the REST
    adapter builds from ``/v1/funding/data`` at a pinned rate."""
    paradex["venue"].set_funding_rate("ETH", -0.00037)
    f = ParadexMarketFeed(paradex["ep"]["ws_url"], sbe_version=sbe, funding_stream=True)
    adapter = ParadexFundingAdapter(paradex["ep"]["rest_url"])
    try:
        await f.prepare("ETH")
        await eventually(lambda: f.funding("ETH") is not None, "a funding_data frame", timeout=10)
        got = f.funding("ETH")
        rest = await adapter.fetch_current_rate("ETH")
        assert got.raw_rate == rest.raw_rate == Decimal("-0.00037")
        assert got.interval_hours == rest.interval_hours and got.normalized_rate == rest.normalized_rate
        assert got.metadata["rate_8h"] == rest.metadata["rate_8h"] and got.metadata["source"] == "funding_data stream"
    finally:
        await f.close()
        await adapter.close()
