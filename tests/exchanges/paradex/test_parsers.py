"""Paradex parsers on recorded and documented payloads (tests/fixtures/paradex, provenance in
tests/fixtures/README.md; fields in docs/exchanges/paradex.md): JSON and SBE."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from perpdex.exchanges.paradex import ParadexMarketFeed, schemas
from perpdex.exchanges.paradex.client import contract_from_market, depth_from_rest, funding_payments, position_from_row
from perpdex.exchanges.paradex.funding import (
    funding_samples,
    latest_rate,
    market_stats,
    perp_markets,
    sample_from_funding_data,
)
from perpdex.exchanges.paradex.symbols import ParadexSymbols, normalize_symbol, split_market
from perpdex.sim.venues.paradex import sbe

from ...fixtures import load, load_bytes

# §2.1: a recorded row plus a perpetual option row, a k-prefixed market and one not open yet
MARKETS = load_bytes("paradex", "markets")

# §3.3: the recorded BTC row, plus a 4 h market and an option
SUMMARY = load_bytes("paradex", "markets_summary")


def test_symbols_k_prefix_and_options():
    assert split_market("kBONK-USD-PERP") == ("BONK", 1000)
    assert split_market("BTC-USD-PERP") == ("BTC", 1)
    assert normalize_symbol("0G-USD-PERP") == "0G"
    with pytest.raises(ValueError):
        split_market("BTC-USD-96000-C")
    s = ParadexSymbols()
    assert s.add("kPEPE-USD-PERP") == "PEPE"
    assert s.name("PEPE") == "kPEPE-USD-PERP" and s.multiplier("PEPE") == 1000
    assert s.ccxt_symbol("PEPE") == "KPEPE/USD:USDC" and s.ccxt_symbol("BTC") == "BTC/USD:USDC"


def test_d01_catalog_parsed_options_excluded_inactive_flagged():
    symbols = ParadexSymbols()
    markets = perp_markets(MARKETS, symbols)
    assert sorted(markets) == ["BODEN", "BONK", "LATER"]  # the option row is dropped
    c = contract_from_market("BODEN", markets["BODEN"], now_ms=1_800_000_000_000)
    assert (c.contract_id, c.tick_size, c.lot_size, c.min_size, c.min_notional) == (
        "BODEN-USD-PERP", Decimal("0.00001"), Decimal("1"), Decimal("1"), Decimal("200"))
    assert c.max_leverage == Decimal(5)  # 1 / imf_base 0.2
    assert c.active
    bonk = contract_from_market("BONK", markets["BONK"], multiplier=symbols.multiplier("BONK"), now_ms=1_800_000_000_000)
    assert bonk.multiplier == 1000 and bonk.max_leverage == 10
    assert not contract_from_market("LATER", markets["LATER"], now_ms=1_800_000_000_000).active  # not open yet
    assert markets["BODEN"].funding_period_hours == 8  # absent -> 8
    assert markets["BONK"].funding_period_hours == 4


def test_d02_rest_depth_sorted_and_empty_side():
    body = load_bytes("paradex", "orderbook")
    d = depth_from_rest(schemas.orderbook_decoder.decode(body), 10)
    assert [lv["price"] for lv in d["bids"]] == [Decimal("68477.6"), Decimal("68000.1")]
    assert [lv["price"] for lv in d["asks"]] == [Decimal("69578.2"), Decimal("69580.0")]  # zero-size dropped
    empty = depth_from_rest(schemas.orderbook_decoder.decode(b'{"market":"BTC-USD-PERP","seq_no":1,"bids":[],"asks":[]}'), 5)
    assert empty == {"bids": [], "asks": []}


def test_d12_funding_units_from_summary():
    symbols = ParadexSymbols()
    markets = perp_markets(MARKETS, symbols)
    symbols.add("BTC-USD-PERP")
    markets["BTC"] = schemas.Market(symbol="BTC-USD-PERP")  # 8 h (absent -> default)
    samples = funding_samples(schemas.summary_decoder.decode(SUMMARY), markets, symbols)
    assert set(samples) == {"BTC", "BONK"}  # the option row is not a perp
    btc = samples["BTC"]
    assert btc.raw_rate == Decimal("0.01629574927887") and btc.interval_hours == 8
    assert btc.normalized_rate == btc.raw_rate  # already per 8 h
    assert btc.apr == btc.raw_rate * 1095  # r × 8760 / 8
    assert btc.next_funding_time is None and btc.mark_price == Decimal("68465.17449906")
    bonk = samples["BONK"]
    assert bonk.interval_hours == 4 and bonk.normalized_rate == Decimal("0.0008")
    assert bonk.apr == Decimal("0.0004") * 8760 / 4 and bonk.metadata["multiplier"] == 1000
    stats = market_stats(schemas.summary_decoder.decode(SUMMARY), markets, symbols)
    assert stats["BTC"].volume_24h_usd == Decimal("5815541.397939004")
    assert stats["BTC"].open_interest_usd == Decimal("162.272") * Decimal("68465.17449906")  # base units × mark


def test_d12_funding_history_is_never_summed_28800_fold():
    # §3.4: rows are per-second observations of one continuously updated rate; 8 h of them
    rate = "-0.00014969570582"
    rows = [schemas.FundingData(market="TRUMP-USD-PERP", funding_rate=rate, funding_rate_8h="",
                                funding_period_hours=Decimal(0), created_at=1771506636154 - i * 1000)
            for i in range(28_800)]
    latest = latest_rate(rows)
    assert latest is not None and latest.created_at == 1771506636154
    s = sample_from_funding_data(latest, "TRUMP", schemas.Market(symbol="TRUMP-USD-PERP"))
    assert s.raw_rate == Decimal(rate) and s.interval_hours == 8  # period 0 on old rows -> market's 8 h
    assert s.normalized_rate == Decimal(rate)
    assert abs(s.apr - Decimal("-0.1639")) < Decimal("0.0001")  # ≈ -16.4 % (§8 example), not ×28 800
    # the recorded funding_data push (§4.2) with its own period and 8 h figure
    push = schemas.funding_push_decoder.decode(load_bytes("paradex", "ws_funding_data"))
    s2 = sample_from_funding_data(push, "TRUMP", None)
    assert s2.raw_rate == Decimal(rate) and s2.metadata["rate_8h"] == Decimal("-0.00014969")


def _sbe(template: int, block: bytes, tail: bytes, version: int = 3) -> bytes:
    return struct.pack("<HHHH", len(block), template, 1, version) + block + tail


def _s(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def test_sbe_frames_decoded_from_the_documented_layout():
    # BookEvent: 89-byte block, bids and asks groups of (price, size) int64 × 1e-8, then market
    block = struct.pack("<qqB", 1718267837265123, 14127815, 0) + struct.pack("<9q", *([0] * 9))
    groups = struct.pack("<HH", 16, 1) + struct.pack("<qq", 6762970000000, 99200000) \
        + struct.pack("<HH", 16, 2) + struct.pack("<qq", 6937860000000, 313700000) + struct.pack("<qq", 6937870000000, 0)
    book = schemas.decode_sbe(_sbe(3, block, groups + _s("BTC-USD-PERP")))
    assert isinstance(book, schemas.SbeBook)
    assert (book.market, book.seq, book.pkg_type) == ("BTC-USD-PERP", 14127815, 0)
    assert book.bids == [(67629.7, 0.992)] and book.asks == [(69378.6, 3.137), (69378.7, 0.0)]
    bbo = schemas.decode_sbe(_sbe(2, struct.pack("<6q", 1681759756789000, 12345678, 6543240000000, 111100000,
                                                  6543250000000, -(1 << 63)), _s("BTC-USD-PERP")))
    assert isinstance(bbo, schemas.SbeBbo)
    assert bbo.bid == Decimal("65432.4") and bbo.ask == Decimal("65432.5") and bbo.ask_size is None  # INT64_MIN = null
    fund = schemas.decode_sbe(_sbe(5, struct.pack("<7qHq", 1771506636154000, 9, -14969, -55169401, 1771506636154000,
                                                  -50991, -14969, 8, 0), _s("TRUMP-USD-PERP")))
    assert isinstance(fund, schemas.SbeFunding)
    assert fund.funding_rate == Decimal("-0.00014969") and fund.funding_period_hours == 8
    summary = schemas.decode_sbe(sbe.encode_summary("BTC-USD-PERP", 1, 5, mark=68465.17, index=67367.37, last=68495.1,
                                                        volume_24h=5815541.39, open_interest=162.272, funding_rate=0.016,
                                                        bid=68477.6, ask=69578.2, total_volume=1.0, version=2))
    assert isinstance(summary, schemas.SbeSummary) and summary.open_interest == Decimal("162.272")
    for bad in (b"\x59\x00\x03", _sbe(3, block, groups[:10]), _sbe(99, b"\x00" * 8, b""),
                struct.pack("<HHHH", 8, 3, 2, 3) + b"\x00" * 8):
        with pytest.raises(schemas.SbeError):
            schemas.decode_sbe(bad)


async def test_d03_recorded_json_frames_applied_in_seq_order():
    feed = ParadexMarketFeed("ws://127.0.0.1:1/v1")
    feed.catalog.add("BTC-USD-PERP")
    feed.state("BTC")
    try:
        snap = load("paradex", "ws_order_book_snapshot")
        delta = load("paradex", "ws_order_book_delta")
        feed.handle_frame(json.dumps(snap).encode())
        assert feed.is_ready("BTC")
        feed.handle_frame(json.dumps(delta).encode())
        book = feed.state("BTC").book
        assert book.bids() == [] and book.asks() == [(69378.6, 0.8), (69380.0, 1.5)] and book.sequence == 14127816
        feed.handle_frame(json.dumps(delta).encode())  # a duplicate is ignored
        assert book.sequence == 14127816
        bbo = load("paradex", "ws_bbo")
        feed.handle_frame(json.dumps(bbo).encode())
        assert feed.state("BTC").bbo[:4] == (65432.4, 1.111, 65432.5, 1.234)
        with pytest.raises(ValueError):
            feed.handle_frame(b'{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"invalid subscribe request","data":"invalid channel"}}')
        feed.handle_frame(b'{"jsonrpc":"2.0","result":{"channel":"bbo.BTC-USD-PERP"},"usIn":1,"usDiff":2}')  # an ack
    finally:
        await feed.close()


def test_private_rows_positions_and_funding_payments():
    row = load("paradex", "position_short")
    snap = position_from_row(row, "BTC", Decimal("65000"))
    assert snap is not None and snap.quantity == Decimal("-0.01") and snap.liquidation_price is None
    assert snap.margin_used == Decimal("648.529") / 5
    assert position_from_row(dict(row, status="CLOSED"), "BTC", None) is None
    resp = load("paradex", "funding_payments")
    pays = funding_payments(resp, "BTC-USD-PERP", "BTC", datetime(2023, 1, 1, tzinfo=UTC))
    assert [p.amount for p in pays] == [Decimal("34.4490622")]
    assert pays[0].ts == datetime.fromtimestamp(1681375481, tz=UTC)
