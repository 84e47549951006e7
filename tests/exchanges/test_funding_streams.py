"""The funding-stream decoders on the exchanges' documented sample frames (Aster "Mark Price
Stream", Lighter ``market_stats``, Paradex ``funding_data``): the fields land in the normalized
sample with the units the funding modules state. The recording test
(tests/recording/test_funding_streams.py) checks all four against the emulator and REST."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from perpdex.exchanges.aster.feed import AsterMarketFeed
from perpdex.exchanges.lighter.feed import LighterMarketFeed
from perpdex.exchanges.lighter.symbols import LighterSymbols
from perpdex.exchanges.paradex.feed import ParadexMarketFeed

ASTER_DOC = (b'{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT",'
             b'"p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}')
LIGHTER_DOC = (b'{"channel":"market_stats:0","market_stats":{"symbol":"ETH","market_id":0,"index_price":"2965.30",'
               b'"mark_price":"2963.63","open_interest":"185926683.471886","open_interest_limit":"72057594037927936.000000",'
               b'"funding_clamp_small":"0.0500","funding_clamp_big":"4.0000","last_trade_price":"2963.67",'
               b'"current_funding_rate":"-0.0005","funding_rate":"0.0011","funding_timestamp":1769187600001,'
               b'"daily_base_token_volume":296009.9355,"daily_quote_token_volume":870882976.341333,'
               b'"daily_price_low":2888.37,"daily_price_high":2984,"daily_price_change":0.830824189844348},'
               b'"type":"update/market_stats"}')
PARADEX_DOC = (b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"funding_data.TRUMP-USD-PERP","data":'
               b'{"market":"TRUMP-USD-PERP","funding_index":"-0.551694014226244835",'
               b'"funding_premium":"-0.000509914923994872836","funding_rate":"-0.00014969570582",'
               b'"funding_rate_8h":"-0.00014969","funding_period_hours":8,"created_at":1771506636154}}}')


def test_aster_mark_price_update_needs_the_interval_then_is_a_sample():
    feed = AsterMarketFeed("ws://127.0.0.1:9", funding_stream=True)
    frames = feed.subscribe_frames("BTC")
    assert "btcusdt@markPrice@1s" in frames[0]["params"]
    feed.state("BTC")  # followed (prepare() would also connect)
    feed.handle_frame(ASTER_DOC)
    assert feed.funding("BTC") is None  # fundingInfo not read yet: the interval is unknown
    feed.intervals = {"BTCUSDT": Decimal(4)}
    s = feed.funding("BTC")
    assert s.raw_rate == Decimal("0.00038167") and s.interval_hours == 4
    assert s.normalized_rate == Decimal("0.00038167") * 2
    assert s.mark_price == Decimal("11794.15000000") and s.metadata["index_price"] == Decimal("11784.62659091")
    assert s.next_funding_time == datetime.fromtimestamp(1562306400, tz=UTC)
    assert feed.funding_samples() == {"BTC": s}


def test_lighter_market_stats_percent_per_hour():
    cat = LighterSymbols()
    cat.add("ETH", 0)
    feed = LighterMarketFeed("ws://127.0.0.1:9", catalog=cat, funding_stream=True)
    assert {"type": "subscribe", "channel": "market_stats/0"} in feed.subscribe_frames("ETH")
    feed.state("ETH")
    feed.handle_frame(LIGHTER_DOC)
    s = feed.funding("ETH")
    assert s.raw_rate == Decimal("-0.000005") and s.interval_hours == 1  # -0.0005 % per hour
    assert s.normalized_rate == Decimal("-0.00004") and s.mark_price == Decimal("2963.63")
    assert s.metadata["settled_rate"] == Decimal("0.000011")
    # the payment after the one settled at 2026-01-23 17:00:00.001 UTC
    assert s.next_funding_time == datetime(2026, 1, 23, 18, tzinfo=UTC)


def test_paradex_funding_data_per_period():
    feed = ParadexMarketFeed("ws://127.0.0.1:9", funding_stream=True)
    assert any(f["params"]["channel"] == "funding_data.TRUMP-USD-PERP" for f in feed.subscribe_frames("TRUMP"))
    feed.state("TRUMP")
    feed.handle_frame(PARADEX_DOC)
    s = feed.funding("TRUMP")
    assert s.raw_rate == Decimal("-0.00014969570582") and s.interval_hours == 8
    assert s.normalized_rate == s.raw_rate and s.next_funding_time is None and s.mark_price is None
    assert s.metadata["rate_8h"] == Decimal("-0.00014969") and s.metadata["source"] == "funding_data stream"


def test_without_funding_stream_no_channel_is_subscribed():
    cat = LighterSymbols()
    cat.add("ETH", 0)
    assert LighterMarketFeed("ws://127.0.0.1:9", catalog=cat).subscribe_frames("ETH") == [
        {"type": "subscribe", "channel": "order_book/0"}]
    assert all("markPrice" not in p for p in AsterMarketFeed("ws://127.0.0.1:9").subscribe_frames("BTC")[0]["params"])
    assert all("funding" not in f["params"]["channel"] for f in ParadexMarketFeed("ws://x").subscribe_frames("BTC"))
