"""Aster parsers on documented and recorded payloads (tests/fixtures/aster, provenance in
tests/fixtures/README.md; fields in docs/exchanges/aster.md)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from perpdex.book import OrderBook, depth_from_levels
from perpdex.exchanges.aster.auth import recover_signer
from perpdex.exchanges.aster.client import depth_limit, parse_book_ticker, parse_contract
from perpdex.exchanges.aster.schemas import (
    AccountUpdate,
    BookTickerEvent,
    BookTickerRest,
    Depth,
    ExchangeInfo,
    FundingInfo,
    OrderTradeUpdate,
    PremiumIndex,
    StreamEnvelope,
    UserEvent,
    decode,
)
from perpdex.exchanges.aster.symbols import get_dex_symbol_format, normalize_symbol, split_multiplier
from perpdex.sim.venues.aster.auth import split_signed

from ...fixtures import load_bytes

FEES = {"taker_fee": Decimal("0.00035"), "maker_fee": Decimal("0.0001")}

EXCHANGE_INFO_DOC = load_bytes("aster", "exchange_info")

# Live V3 row recorded by ccxt: numerics as strings, MIN_NOTIONAL carries "minNotional".
ASTER_ROW_LIVE = load_bytes("aster", "exchange_info_symbol_live")


def _info(*rows: bytes) -> ExchangeInfo:
    return decode(ExchangeInfo, b'{"symbols": [' + b",".join(rows) + b"]}")


# -- D01 catalog ---------------------------------------------------------------------------------
def test_d01_exchange_info_doc_row_parsed():
    info = decode(ExchangeInfo, EXCHANGE_INFO_DOC)
    c = parse_contract(info.symbols[0], **FEES)
    assert c is not None
    assert (c.symbol, c.contract_id) == ("BLZ", "DOGEUSDT")  # canonical from baseAsset, id from symbol
    assert c.tick_size == Decimal("0.0001") and c.lot_size == Decimal("1") and c.min_size == Decimal("1")
    assert c.min_notional == Decimal("1") and c.active


def test_d01_live_row_with_string_numerics_and_min_notional_variant():
    row = _info(ASTER_ROW_LIVE).symbols[0]
    assert row.pricePrecision == 2 and row.quantityPrecision == 5  # strings decoded to ints
    c = parse_contract(row, max_leverage=Decimal(50), **FEES)
    assert c is not None
    assert c.symbol == "ASTER" and c.tick_size == Decimal("0.01") and c.lot_size == Decimal("0.00001")
    assert c.min_notional == Decimal("5") and c.max_leverage == Decimal(50)


def test_d01_inactive_and_spot_rows_excluded_or_flagged():
    settling = ASTER_ROW_LIVE.replace(b'"status": "TRADING"', b'"status": "SETTLING"')
    spot = b'{"symbol": "ASTERUSDT", "status": "TRADING", "baseAsset": "ASTER", "quoteAsset": "USDT", "filters": []}'
    info = _info(settling, spot)
    inactive = parse_contract(info.symbols[0], **FEES)
    assert inactive is not None and inactive.active is False
    assert parse_contract(info.symbols[1], **FEES) is None


def test_d01_tick_falls_back_to_precision_and_missing_filters_rejected():
    row = _info(b'{"symbol": "XUSDT", "status": "TRADING", "baseAsset": "X", "quoteAsset": "USDT", '
                b'"contractType": "PERPETUAL", "pricePrecision": 3, "quantityPrecision": 1, "filters": []}').symbols[0]
    c = parse_contract(row, **FEES)
    assert c is not None and c.tick_size == Decimal("0.001") and c.lot_size == Decimal("0.1")
    bare = _info(b'{"symbol": "YUSDT", "baseAsset": "Y", "contractType": "PERPETUAL", "filters": []}').symbols[0]
    with pytest.raises(ValueError, match="tickSize"):
        parse_contract(bare, **FEES)


def test_d01_symbol_mapping_with_multipliers():
    assert normalize_symbol("BTCUSDT") == "BTC"
    assert normalize_symbol("btcusdt") == "BTC"
    assert normalize_symbol("1000PEPEUSDT") == "PEPE"
    assert split_multiplier("1MBABYDOGE") == ("BABYDOGE", 1_000_000)
    assert split_multiplier("10000SATS") == ("SATS", 10_000)
    # a leading digit that is not a multiplier belongs to the coin
    assert normalize_symbol("2ZUSDT") == "2Z" and normalize_symbol("0GUSDT") == "0G"
    assert get_dex_symbol_format("BTC") == "BTCUSDT"
    assert get_dex_symbol_format("PEPE", {"PEPE": "1000PEPEUSDT"}) == "1000PEPEUSDT"


# -- D02 REST depth / bookTicker -----------------------------------------------------------------
def test_d02_depth_doc_payload_sorted_and_empty_sides():
    body = decode(Depth, load_bytes("aster", "depth"))  # the docs' example plus unsorted and zero rows
    assert body.lastUpdateId == 1027024
    d = depth_from_levels(body.bids, body.asks, 5)
    assert [x["price"] for x in d["bids"]] == [Decimal("4.0"), Decimal("3.9")]  # descending, 0-size dropped
    assert [x["price"] for x in d["asks"]] == [Decimal("4.000002"), Decimal("4.5")]  # ascending
    assert d["bids"][0]["size"] == Decimal("431.0")
    empty = decode(Depth, b'{"lastUpdateId": 1, "bids": [], "asks": [["5", "1"]]}')
    assert depth_from_levels(empty.bids, empty.asks, 5)["bids"] == []


def test_d02_depth_limit_rounds_up_to_allowed_set():
    assert [depth_limit(n) for n in (1, 5, 7, 20, 21, 100, 501, 5000)] == [5, 5, 10, 20, 50, 100, 1000, 1000]


def test_d02_book_ticker_empty_side_is_no_level():
    row = decode(BookTickerRest, load_bytes("aster", "book_ticker_rest"))
    assert row.time == 1776411276072 and row.lastUpdateId == 453174307613
    assert parse_book_ticker(row) == (Decimal("0.004"), None)


# -- D03/D07 frames ------------------------------------------------------------------------------
def test_d03_partial_depth_frame_replaces_book():
    frame = load_bytes("aster", "ws_depth20")
    env = decode(StreamEnvelope, frame)
    assert env.stream == "btcusdt@depth20@100ms"
    ev = env.data
    book = OrderBook("BTC")
    book.apply_snapshot([(1.0, 1.0)], [(9999.0, 1.0)])
    book.apply_snapshot(ev.b, ev.a, ev.u)
    assert book.bids() == [(7403.90, 3.906), (7403.89, 0.002)]
    assert book.asks() == [(7405.96, 3.340), (7406.63, 4.525)]
    assert book.sequence == 390497878


def test_d03_diff_frame_fields():
    ev = decode(StreamEnvelope, load_bytes("aster", "ws_depth_diff")).data
    assert (ev.U, ev.u, ev.pu) == (157, 160, 149)
    assert ev.b == [(0.0024, 10.0)] and ev.a == [(0.0026, 100.0)]


def test_d07_book_ticker_frame():
    ev = decode(StreamEnvelope, load_bytes("aster", "ws_book_ticker")).data
    assert isinstance(ev, BookTickerEvent)
    assert (ev.b, ev.B, ev.a, ev.A, ev.u) == (25.3519, 31.21, 25.3652, 40.66, 400900217)


def test_d11_unknown_and_truncated_frames_raise():
    with pytest.raises(msgspec.ValidationError):
        decode(StreamEnvelope, b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}')
    with pytest.raises(msgspec.DecodeError):
        decode(StreamEnvelope, b'{"stream":"btcusdt@depth20","data":{"e":"depthUp')
    with pytest.raises(msgspec.ValidationError, match="u"):
        decode(StreamEnvelope, b'{"stream":"btcusdt@depth20","data":{"e":"depthUpdate","s":"BTCUSDT","b":[],"a":[]}}')


# -- D12 funding payloads ------------------------------------------------------------------------
def test_d12_premium_index_and_funding_info_doc_payloads():
    p = decode(PremiumIndex, load_bytes("aster", "premium_index"))
    assert p.lastFundingRate == Decimal("0.00038246") and p.nextFundingTime == 1597392000000
    assert p.markPrice == Decimal("11793.63104562")
    rows = decode(list[FundingInfo], load_bytes("aster", "funding_info"))
    assert [(r.symbol, r.fundingIntervalHours, r.fundingFeeCap) for r in rows] == [
        ("INJUSDT", Decimal(8), Decimal("0.03")), ("ZORAUSDT", Decimal(4), Decimal("0.02"))]


# -- user stream and auth --------------------------------------------------------------------------
def test_order_trade_update_and_account_update_doc_payloads():
    o = decode(UserEvent, load_bytes("aster", "user_order_trade_update"))
    assert isinstance(o, OrderTradeUpdate)
    assert (o.o.i, o.o.x, o.o.X, o.o.q, o.o.R) == (8886774, "NEW", "NEW", Decimal("0.001"), False)
    a = decode(UserEvent, load_bytes("aster", "user_account_update_funding_fee"))
    assert isinstance(a, AccountUpdate)
    assert a.a.m == "FUNDING_FEE" and a.a.B[0].wb == Decimal("122624.12345678") and a.a.P[0].pa == Decimal(-20)


def test_v3_signature_test_vector_recovers_signer():
    raw = ("nonce=1748310859508000&user=0x21cf8ae13bb72632562c6fff438652ba1a151bb0"
           "&signer=0x21cf8ae13bb72632562c6fff438652ba1a151bb0&symbol=BTCUSDT&side=BUY&type=LIMIT"
           "&timeInForce=GTC&quantity=0.010&price=95000.0&signature=0x6a158e2433a9366390a91b0e0f794467ac7ddd6805"
           "24c20cc01ea8a12865e342188f4b28933938597d1caf9c14f8869ed7db4ecc000e80538988a081d069dfd81C")
    parts = split_signed(raw)
    assert parts is not None
    assert recover_signer(*parts) == "0x21cf8ae13bb72632562c6fff438652ba1a151bb0"
    assert recover_signer(parts[0] + "&x=1", parts[1]) != "0x21cf8ae13bb72632562c6fff438652ba1a151bb0"
    assert recover_signer(parts[0], "0xdead") is None


@pytest.mark.parametrize(("raw", "price"), [
    (b'[["114988.0","2.646"],["114987.8","0.714"]]', 114988.0),
    (b'[ [ "0.5" , "1" ] ]', 0.5),
    (b'[[7, 1]]', 7.0),
    (b"[]", None),
    (b" [ ] ", None),
])
def test_first_price_reads_the_first_level_of_raw_depth_levels(raw: bytes, price: float | None) -> None:
    from perpdex.exchanges.aster.schemas import first_price

    assert first_price(msgspec.Raw(raw)) == price


@pytest.mark.parametrize("raw", [b'[["x","1"]]', b'{"p": 1}', b'["1.0","2"]', b"[[]]"])
def test_first_price_refuses_what_is_not_a_level_array(raw: bytes) -> None:
    from perpdex.exchanges.aster.schemas import first_price

    with pytest.raises(msgspec.ValidationError):
        first_price(msgspec.Raw(raw))


def test_partial_depth_envelope_keeps_levels_raw_and_they_decode_to_the_full_decode() -> None:
    from perpdex.exchanges.aster.schemas import PartialDepthEnvelope, decode_levels

    frame = load_bytes("aster", "ws_depth20")
    full = decode(StreamEnvelope, frame).data
    lazy = decode(PartialDepthEnvelope, frame).data
    assert decode_levels(lazy.b) == full.b and decode_levels(lazy.a) == full.a
    assert (lazy.s, lazy.u, lazy.E, lazy.T) == (full.s, full.u, full.E, full.T)

