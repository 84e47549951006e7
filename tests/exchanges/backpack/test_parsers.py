"""Backpack parsers on recorded and documented payloads (tests/fixtures/backpack, provenance in
tests/fixtures/README.md; fields in docs/exchanges/backpack.md): D01, D02, D12 units,
symbol mapping, signing-string test vectors and error refinement. No sockets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perpdex.errors import (
    AuthenticationError,
    ExchangeError,
    InsufficientMargin,
    InvalidOrder,
    NetworkError,
    OrderNotFound,
    RateLimited,
)
from perpdex.exchanges.backpack import BackpackMarketFeed, schemas
from perpdex.exchanges.backpack.client import (
    funding_payments,
    parse_catalog,
    parse_depth,
    position_from_rows,
    refine_error,
)
from perpdex.exchanges.backpack.funding import active_perps, funding_samples, interval_hours, market_stats
from perpdex.exchanges.backpack.symbols import BackpackSymbols, normalize_symbol, split_multiplier
from perpdex.sim.venues.backpack.auth import SIM_API_KEY, SIM_SECRET, signing_strings
from perpdex.sim.venues.backpack.base import iso_ms
from perpdex.symbols import SymbolRegistry

from ...fixtures import load, load_bytes

# a PERP row of /api/v1/markets (§2.2); fundingInterval as the older string form, 8 h
SOL_ROW = load("backpack", "market_perp")


def _row(symbol: str, base: str, **kw: object) -> dict[str, object]:
    row = json.loads(json.dumps(SOL_ROW))
    row.update({"symbol": symbol, "baseSymbol": base}, **kw)
    return row


CATALOG = json.dumps([
    SOL_ROW,
    _row("BTC_USDC_PERP", "BTC", fundingInterval=3600000,
         filters={"price": {"tickSize": "0.1", "minPrice": "0.1"}, "quantity": {"stepSize": "0.00001", "minQuantity": "0.00001"}}),
    _row("kBONK_USDC_PERP", "kBONK", fundingInterval=3600000, imfFunction={"base": "0.1", "factor": "0", "type": "sqrt"}),
    _row("SOL_USDC", "SOL", marketType="SPOT", fundingInterval=None),
    _row("OLD_USDC_PERP", "OLD", orderBookState="Closed"),
]).encode()


def test_d01_catalog_parsed_spot_excluded_inactive_marked() -> None:
    symbols = BackpackSymbols()
    contracts = parse_catalog(CATALOG, symbols, Decimal("0.0005"), Decimal("0.0002"))
    assert set(contracts) == {"SOL", "BTC", "BONK", "OLD"}  # the spot SOL_USDC is not mapped
    sol = contracts["SOL"]
    assert (sol.contract_id, sol.tick_size, sol.lot_size, sol.min_size) == ("SOL_USDC_PERP", Decimal("0.01"),
                                                                            Decimal("0.01"), Decimal("0.01"))
    assert sol.min_notional == 0 and sol.max_leverage == Decimal(50)  # 1 / imfFunction.base 0.02
    assert sol.taker_fee == Decimal("0.0005") and sol.maker_fee == Decimal("0.0002") and sol.active
    assert contracts["BTC"].tick_size == Decimal("0.1") and contracts["BTC"].lot_size == Decimal("0.00001")
    bonk = contracts["BONK"]
    assert bonk.contract_id == "kBONK_USDC_PERP" and bonk.multiplier == Decimal(1000) and bonk.max_leverage == Decimal(10)
    assert not contracts["OLD"].active
    assert symbols.name("BONK") == "kBONK_USDC_PERP" and symbols.ccxt_symbol("BONK") == "KBONK/USDC:USDC"
    # the shared registry sees the bundle and converts prices and sizes to coin units
    ref = SymbolRegistry.from_contracts(contracts.values()).get("backpack", "BONK")
    assert ref is not None
    assert ref.to_canonical_price(Decimal("0.02")) == Decimal("0.00002")


def test_d01_symbols_prefixes_and_bad_input() -> None:
    assert split_multiplier("kBONK") == ("BONK", 1000)
    assert split_multiplier("1000PEPE") == ("PEPE", 1000)
    assert split_multiplier("KAITO") == ("KAITO", 1)  # upper-case K is part of the name
    assert split_multiplier("2Z") == ("2Z", 1) and split_multiplier("0G") == ("0G", 1)
    assert split_multiplier("") == ("", 1)
    assert normalize_symbol("kPEPE_USDC_PERP") == "PEPE"
    assert normalize_symbol("BTC_USDC_PERP") == "BTC"
    s = BackpackSymbols()
    assert s.add("SOL_USDC") is None and s.add("_USDC_PERP") is None  # spot / empty base
    assert s.add("ETH_USDC_PERP") == "ETH" and s.symbol("ETH_USDC_PERP") == "ETH"
    assert s.name("XRP") == "XRP_USDC_PERP"  # naming rule for an unlisted symbol


def test_d02_rest_depth_sorted_whatever_the_wire_order() -> None:
    # the documented example: both sides ascending (best bid last)
    body = load_bytes("backpack", "depth")
    d = parse_depth(body, 10)
    assert [lv["price"] for lv in d["bids"]] == [Decimal("20.5"), Decimal("20.12")]
    assert [lv["price"] for lv in d["asks"]] == [Decimal("21.9"), Decimal("22.1")]
    assert d["bids"][0]["size"] == Decimal("499.555")
    assert schemas.to_int(schemas.depth.decode(body).lastUpdateId, "lastUpdateId") == 1684026955123
    empty = parse_depth(b'{"asks": [], "bids": [["1", "0"]], "lastUpdateId": 5, "timestamp": 1}', 5)
    assert empty == {"bids": [], "asks": []}  # an empty side is no level, never a price of 0
    with pytest.raises(ValueError, match="bids"):
        parse_depth(b'{"asks": [], "bids": [["x", "1"]], "lastUpdateId": 5}', 5)
    with pytest.raises(msgspec.ValidationError):
        parse_depth(b'{"asks": [], "bids": []}', 5)  # no lastUpdateId


def test_d12_funding_units_interval_read_per_market() -> None:
    symbols = BackpackSymbols()
    markets = active_perps(CATALOG, symbols)
    assert set(markets) == {"SOL", "BTC", "BONK"}  # closed and spot rows dropped
    assert interval_hours(markets["SOL"]) == 8 and interval_hours(markets["BTC"]) == 1
    # markPrices rows: BTC recorded, SOL 8 h, a spot row without funding
    marks = schemas.mark_prices.decode(load_bytes("backpack", "mark_prices"))
    samples = funding_samples(markets, marks, symbols)
    assert set(samples) == {"BTC", "SOL"}
    btc, sol = samples["BTC"], samples["SOL"]
    assert btc.raw_rate == Decimal("0.0001") and btc.interval_hours == 1 and btc.normalized_rate == Decimal("0.0008")
    assert sol.interval_hours == 8 and sol.normalized_rate == Decimal("0.0001")  # same quote, 8 h market
    assert btc.apr == Decimal("0.0001") * 8760
    assert btc.next_funding_time == datetime(2025, 7, 21, 16, 0, tzinfo=UTC)
    assert btc.mark_price == Decimal("118343.51853741")
    # open interest (base units) and ticker (quoteVolume USDC)
    ois = schemas.open_interest.decode(load_bytes("backpack", "open_interest"))
    tickers = schemas.tickers.decode(load_bytes("backpack", "tickers"))
    stats = market_stats(markets, tickers, ois, marks, symbols)
    assert stats["BTC"].volume_24h_usd == Decimal("21584.32278")
    assert stats["BTC"].open_interest_usd == Decimal("1273.85214") * Decimal("118343.51853741")
    assert stats["SOL"].volume_24h_usd == 0 and stats["SOL"].open_interest_usd == 0


def test_signing_strings_reproduce_the_protocol_test_vectors() -> None:
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(SIM_SECRET))
    assert SIM_API_KEY == "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="

    def sign(instruction: str, params: dict[str, object]) -> str:
        [msg] = signing_strings(instruction, params, "1614550000000", "5000")
        return base64.b64encode(key.sign(msg.encode())).decode()

    assert sign("orderExecute", {"symbol": "BTC_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "100",
                                 "quantity": "0.01", "postOnly": True, "clientId": 42}) == \
        "wbIITAkgzWFg6ZADY8Ph071iw0UleXBQgudTl9IEQHaW0b/SuaFVgUJ6I9nSkDXLyujDYYeH16NaPxmpPjFvBg=="
    assert sign("positionQuery", {}) == \
        "VhBpPqWKhXHn9+aGdsU2TRNvz9bq4HKzRv3hRrcSUGKTB9uFxs/GYqdHd0ZN+32E5r+gHFO1PzcJgnm7cNG3Cg=="
    assert sign("orderCancel", {"orderId": "28", "symbol": "BTC_USDT"}) == \
        "E7UijHVsR5NAdTGNA8aOPfAGdwe6Qu5oVcEJPNdG8Kx9HxV2pX+U3IsodvFn1MUHh0CuD+AhMMnJJvtPEat9DA=="
    # values with reserved characters: both the raw and the URL-encoded forms are accepted
    assert signing_strings("orderExecute", {"triggerQuantity": "100%"}, "1", "5000") == [
        "instruction=orderExecute&triggerQuantity=100%&timestamp=1&window=5000",
        "instruction=orderExecute&triggerQuantity=100%25&timestamp=1&window=5000"]


def test_e07_position_row_signed_net_quantity() -> None:
    # netExposureQuantity would include open orders, netQuantity is the position
    row = load("backpack", "position_short")
    snap = position_from_rows([row], "ETH_USDC_PERP", "ETH")
    assert snap is not None and snap.quantity == Decimal("-0.0036")
    assert snap.leverage == Decimal(50) and snap.liquidation_price is None  # "0" is Backpack's placeholder
    assert snap.cumulative_funding == Decimal("-0.009218") and snap.unrealized_pnl == Decimal("-0.141914")
    assert position_from_rows([row], "BTC_USDC_PERP", "BTC") is None
    assert position_from_rows([dict(row, netQuantity="0")], "ETH_USDC_PERP", "ETH") is None
    with pytest.raises(ExchangeError, match="malformed"):
        position_from_rows([dict(row, netQuantity="abc")], "ETH_USDC_PERP", "ETH")


def test_funding_payment_rows_parsed_and_filtered() -> None:
    rows = load("backpack", "funding_history")  # a recorded row, a later one, another market, a broken one
    pays = funding_payments(list(reversed(rows)), "ETH_USDC_PERP", "ETH", datetime(2025, 8, 1, tzinfo=UTC))
    assert [p.amount for p in pays] == [Decimal("-0.001301"), Decimal("0.0005")]  # oldest first
    assert pays[0].ts == datetime(2025, 8, 1, 16, tzinfo=UTC) and pays[0].rate == Decimal("0.0001")
    later = funding_payments(rows, "ETH_USDC_PERP", "ETH", datetime(2025, 8, 1, 16, 30, tzinfo=UTC))
    assert [p.amount for p in later] == [Decimal("0.0005")]
    assert iso_ms(1754064000000) == "2025-08-01T16:00:00" and iso_ms(1754064000250) == "2025-08-01T16:00:00.250"


@pytest.mark.parametrize(("code", "cls"), [
    ("RESOURCE_NOT_FOUND", OrderNotFound), ("INSUFFICIENT_MARGIN", InsufficientMargin),
    ("TOO_MANY_REQUESTS", RateLimited), ("INVALID_SIGNATURE", AuthenticationError),
    ("INVALID_QUANTITY", InvalidOrder), ("SERVER_ERROR", NetworkError),
])
def test_e10_error_codes_refined(code: str, cls: type) -> None:
    # ccxt maps RESOURCE_NOT_FOUND to ExchangeNotAvailable (a network error) and INVALID_QUANTITY to BadRequest
    exc = NetworkError(f'backpack {{"code":"{code}","message":"x"}}', exchange="backpack")
    assert type(refine_error(exc)) is cls
    assert refine_error(exc).code == code


def test_d11_feed_rejects_malformed_frames_without_a_socket() -> None:
    feed = BackpackMarketFeed("ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
    bad = [
        b'{"stream":"depth.BTC_USDC_PERP","data":{"e":"depth","s":"BTC_USDC_PERP","U":5,',  # truncated
        b'{"id": null, "error": {"code": 4006, "message": "Invalid stream"}}',  # error frame
        b'{"stream":"kline.1m.BTC_USDC_PERP","data":{"e":"kline"}}',  # unknown type
        b'{"stream":"depth.BTC_USDC_PERP","data":{"e":"depth","s":"BTC_USDC_PERP","U":7,"u":5,"a":[],"b":[]}}',
        b'{"stream":"bookTicker.BTC_USDC_PERP","data":{"e":"bookTicker","s":"BTC_USDC_PERP","a":"x","A":"1","b":"1","B":"1"}}',
        b'[]', b'',
    ]
    for frame in bad:
        with pytest.raises((ValueError, msgspec.DecodeError, msgspec.ValidationError)):
            feed.handle_frame(frame)
    # a well-formed documented depth frame for a symbol nobody follows is ignored
    feed.handle_frame(load_bytes("backpack", "ws_depth"))
