"""Lighter parsers on payloads recorded in shared/protocols/lighter.md (no network)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import msgspec
import pytest

from perpdex.exchanges.lighter import schemas
from perpdex.exchanges.lighter.client import depth_from_orders, funding_payments, parse_catalog, position_from_account
from perpdex.exchanges.lighter.feed import LighterMarketFeed
from perpdex.exchanges.lighter.funding import (
    active_perps,
    funding_samples,
    hourly_from_8h,
    hourly_from_percent,
    market_stats,
    next_hour,
)
from perpdex.exchanges.lighter.symbols import LighterSymbols, normalize_symbol, split_multiplier

# §2.2 (perp, ccxt sample) + the spot entry; a second, inactive perp and a 1000-prefixed one.
ORDER_BOOK_DETAILS = {
    "code": 200,
    "order_book_details": [
        {"symbol": "ETH", "market_id": 0, "status": "active", "taker_fee": "0.0000", "maker_fee": "0.0000",
         "liquidation_fee": "1.0000", "min_base_amount": "0.0050", "min_quote_amount": "10.000000",
         "order_quote_limit": "", "supported_size_decimals": 4, "supported_price_decimals": 2,
         "supported_quote_decimals": 6, "size_decimals": 4, "price_decimals": 2, "quote_multiplier": 1,
         "default_initial_margin_fraction": 500, "min_initial_margin_fraction": 200,
         "maintenance_margin_fraction": 120, "closeout_margin_fraction": 80, "last_trade_price": 3550.69,
         "daily_trades_count": 1197349, "daily_base_token_volume": 481297.3509,
         "daily_quote_token_volume": 1671431095.263844, "daily_price_low": 3402.41, "daily_price_high": 3571.45,
         "daily_price_change": 0.5294300840859545, "open_interest": 39559.3278, "daily_chart": {},
         "market_config": {"market_margin_mode": 0, "insurance_fund_account_index": 281474976710655,
                           "liquidation_mode": 0, "force_reduce_only": False, "trading_hours": ""}},
        {"symbol": "OLD", "market_id": 5, "market_type": "perp", "status": "inactive", "taker_fee": "0.0200",
         "maker_fee": "0.0020", "min_base_amount": "1", "min_quote_amount": "10", "size_decimals": "0",
         "price_decimals": "5", "min_initial_margin_fraction": "1000", "last_trade_price": "0.5",
         "open_interest": "10", "daily_quote_token_volume": "100"},
        {"symbol": "1000PEPE", "market_id": 9, "market_type": "perp", "status": "active", "taker_fee": "0.0000",
         "maker_fee": "0.0000", "min_base_amount": "100", "min_quote_amount": "10", "size_decimals": 0,
         "price_decimals": 6, "min_initial_margin_fraction": 1000, "last_trade_price": 0.0105,
         "mark_price": "0.010600", "open_interest": 1000000, "daily_quote_token_volume": 5000000},
    ],
    "spot_order_book_details": [
        {"symbol": "ETH/USDC", "market_id": 2048, "market_type": "spot", "base_asset_id": 1, "quote_asset_id": 3,
         "status": "active", "taker_fee": "0.0000", "maker_fee": "0.0000", "liquidation_fee": "0.0000",
         "min_base_amount": "0.0001", "min_quote_amount": "0.000001", "order_quote_limit": "2500000.000000",
         "supported_size_decimals": 4, "supported_price_decimals": 2, "supported_quote_decimals": 6,
         "size_decimals": 4, "price_decimals": 2, "last_trade_price": 2731.79, "daily_trades_count": 126993,
         "daily_base_token_volume": 1203.0962, "daily_quote_token_volume": 3516374.947553,
         "daily_price_low": 2717.47, "daily_price_high": 3044.21, "daily_price_change": -10.2389493724579,
         "daily_chart": "{1640995200:3024.66}"},
    ],
}

# §3.1 orderBookOrders (ccxt sample) plus rows at a shared price, out of order, and a zero row.
ORDER_BOOK_ORDERS = {
    "code": 200, "total_asks": 3,
    "asks": [
        {"order_index": 281475565888173, "order_id": "281475565888173", "owner_account_index": 7,
         "initial_base_amount": "1.0000", "remaining_base_amount": "0.5000", "price": "3430.50", "order_expiry": 1},
        {"order_index": 281475565888172, "order_id": "281475565888172", "owner_account_index": 134436,
         "initial_base_amount": "0.2000", "remaining_base_amount": "0.2000", "price": "3430.00",
         "order_expiry": 1765419046808},
        {"order_index": 281475565888174, "order_id": "281475565888174", "owner_account_index": 8,
         "initial_base_amount": "0.3000", "remaining_base_amount": "0.3000", "price": "3430.00", "order_expiry": 1},
    ],
    "total_bids": 2,
    "bids": [
        {"order_index": 562949401225099, "order_id": "562949401225099", "owner_account_index": 314236,
         "initial_base_amount": "1.7361", "remaining_base_amount": "1.3237", "price": "3429.80",
         "order_expiry": 1765419047587},
        {"order_index": 562949401225100, "order_id": "562949401225100", "owner_account_index": 9,
         "initial_base_amount": "1.0000", "remaining_base_amount": "0.0000", "price": "3429.90", "order_expiry": 1},
    ],
}

# §3.4 funding-rates (ccxt sample) with another venue's row.
FUNDING_RATES = {"code": 200, "funding_rates": [
    {"market_id": 0, "exchange": "lighter", "symbol": "ETH", "rate": 0.00009599999999999999},
    {"market_id": 0, "exchange": "binance", "symbol": "ETH", "rate": 0.0001},
    {"market_id": 9, "exchange": "lighter", "symbol": "1000PEPE", "rate": 0.0004},
    {"market_id": 5, "exchange": "lighter", "symbol": "OLD", "rate": 0.0004},  # inactive market
]}

# §4.3 snapshot then update (docs sample), §4.4 market_stats (docs sample).
SNAPSHOT = {"channel": "order_book:0", "offset": 41692800,
            "order_book": {"code": 0,
                           "asks": [{"price": "3327.46", "size": "29.0915"}, {"price": "3328.00", "size": "10.0000"}],
                           "bids": [{"price": "3326.00", "size": "15.5000"}, {"price": "3325.50", "size": "20.0000"}],
                           "offset": 41692800, "nonce": 4037957034, "begin_nonce": 4037957000},
            "timestamp": 1766434222500, "type": "subscribed/order_book"}
UPDATE = {"channel": "order_book:0", "offset": 41692864,
          "order_book": {"code": 0,
                         "asks": [{"price": "3327.46", "size": "0.0000"}, {"price": "3327.80", "size": "4.0000"}],
                         "bids": [{"price": "3326.50", "size": "10.2898"}, {"price": "3325.50", "size": "21.0000"}],
                         "offset": 41692864, "nonce": 4037957053, "begin_nonce": 4037957034},
          "timestamp": 1766434222583, "type": "update/order_book"}
MARKET_STATS = {"channel": "market_stats:0",
                "market_stats": {"symbol": "ETH", "market_id": 0, "index_price": "2965.30", "mark_price": "2963.63",
                                 "open_interest": "185926683.471886", "open_interest_limit": "72057594037927936.000000",
                                 "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000",
                                 "last_trade_price": "2963.67", "current_funding_rate": "-0.0005",
                                 "funding_rate": "0.0011", "funding_timestamp": 1769187600001,
                                 "daily_base_token_volume": 296009.9355, "daily_quote_token_volume": 870882976.341333,
                                 "daily_price_low": 2888.37, "daily_price_high": 2984, "daily_price_change": 0.830824189844348},
                "type": "update/market_stats"}

# §5.8 account (ccxt sample).
ACCOUNT = {"code": 200, "total": 1, "accounts": [{
    "code": 0, "account_type": 0, "index": 1077, "l1_address": "0x15f43D1f2DeE81424aFd891943262aa90F22cc2A",
    "cancel_all_time": 0, "total_order_count": 0, "total_isolated_order_count": 0, "pending_order_count": 0,
    "available_balance": "12582.743947", "status": 1, "collateral": "9100.242706", "account_index": 1077,
    "name": "", "description": "", "can_invite": True, "referral_points_percentage": "",
    "positions": [{"market_id": 0, "symbol": "ETH", "initial_margin_fraction": "5.00", "open_order_count": 0,
                   "pending_order_count": 0, "position_tied_order_count": 0, "sign": 1, "position": "18.0193",
                   "avg_entry_price": "2669.84", "position_value": "54306.566340", "unrealized_pnl": "6197.829558",
                   "realized_pnl": "0.000000", "liquidation_price": "2191.1107231380406", "margin_mode": 0,
                   "allocated_margin": "0.000000"}],
    "assets": [], "total_asset_value": "15298.072264000002", "cross_asset_value": "15298.072264000002", "shares": []}]}


def _b(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_d01_catalog_perps_only_with_units() -> None:
    symbols = LighterSymbols()
    contracts, details = parse_catalog(_b(ORDER_BOOK_DETAILS), symbols)
    assert set(contracts) == {"ETH", "OLD", "PEPE"}  # spot ETH/USDC (id 2048) excluded
    eth = contracts["ETH"]
    assert eth.contract_id == "0"
    assert eth.tick_size == Decimal("0.01") and eth.lot_size == Decimal("0.0001")
    assert eth.min_size == Decimal("0.005") and eth.min_notional == Decimal("10")
    assert eth.max_leverage == Decimal(50)  # 10000 / 200
    assert eth.active
    assert details["ETH"].default_initial_margin_fraction == 500
    old = contracts["OLD"]  # strings where numbers are expected still parse
    assert not old.active and old.tick_size == Decimal("0.00001") and old.lot_size == Decimal(1)
    assert old.max_leverage == Decimal(10)
    assert old.taker_fee == Decimal("0.0002") and old.maker_fee == Decimal("0.00002")  # percent strings / 100
    assert symbols.market_id("PEPE") == 9 and symbols.dex_symbol("PEPE") == "1000PEPE"
    assert symbols.ccxt_symbol("PEPE") == "1000PEPE/USDC:USDC" and symbols.multiplier("PEPE") == 1000
    assert 2048 not in symbols.by_id


def test_d01_inactive_market_not_served_by_funding_catalog() -> None:
    symbols = LighterSymbols()
    perps = active_perps(_b(ORDER_BOOK_DETAILS), symbols)
    assert [d.symbol for d in perps] == ["ETH", "1000PEPE"]


@pytest.mark.parametrize("raw,expected", [("1000PEPE", ("PEPE", 1000)), ("1000000BABYDOGE", ("BABYDOGE", 1000000)),
                                          ("eth", ("ETH", 1)), ("1INCH", ("1INCH", 1)), ("1000", ("1000", 1))])
def test_d01_multiplier_prefix(raw: str, expected: tuple[str, int]) -> None:
    assert split_multiplier(raw) == expected
    assert normalize_symbol(raw) == expected[0]


def test_d02_rest_depth_aggregates_l3_rows() -> None:
    depth = depth_from_orders(schemas.order_book_orders.decode(_b(ORDER_BOOK_ORDERS)), 10)
    assert depth["asks"] == [{"price": Decimal("3430.00"), "size": Decimal("0.5000")},
                             {"price": Decimal("3430.50"), "size": Decimal("0.5000")}]
    assert depth["bids"] == [{"price": Decimal("3429.80"), "size": Decimal("1.3237")}]  # zero row dropped
    one = depth_from_orders(schemas.order_book_orders.decode(_b(ORDER_BOOK_ORDERS)), 1)
    assert len(one["asks"]) == 1 and one["asks"][0]["price"] == Decimal("3430.00")


def test_d02_empty_side_is_empty_list() -> None:
    body = {"code": 200, "total_asks": 0, "asks": [], "total_bids": 1,
            "bids": [{"order_index": 1, "order_id": "1", "owner_account_index": 1, "initial_base_amount": "1",
                      "remaining_base_amount": "1", "price": "10.00", "order_expiry": 0}]}
    depth = depth_from_orders(schemas.order_book_orders.decode(_b(body)), 5)
    assert depth["asks"] == [] and depth["bids"][0]["price"] == Decimal("10.00")


def test_d12_funding_units_from_recorded_payloads() -> None:
    symbols = LighterSymbols()
    details = active_perps(_b(ORDER_BOOK_DETAILS), symbols)
    due = datetime(2026, 1, 1, 13, tzinfo=timezone.utc)
    samples = funding_samples(schemas.funding_rates.decode(_b(FUNDING_RATES)), details, symbols, due)
    assert set(samples) == {"ETH", "PEPE"}  # the binance row is another venue's; OLD is inactive
    pepe = samples["PEPE"]
    assert pepe.raw_rate == Decimal("0.00005") and pepe.mark_price == Decimal("0.010600")  # per 1000 PEPE
    assert pepe.metadata["multiplier"] == 1000
    eth = samples["ETH"]
    # 0.0012 %/h  =>  0.000012 per 1h interval  =>  0.000096 per 8h  =>  APR 0.10512
    assert eth.interval_hours == Decimal(1)
    assert eth.raw_rate == Decimal("0.000012")
    assert eth.normalized_rate == Decimal("0.000096")
    assert eth.apr == Decimal("0.105120")
    assert eth.next_funding_time == due
    assert eth.mark_price == Decimal("3550.69")  # no mark_price field: last trade price
    assert hourly_from_8h(Decimal("0.00009599999999999999")) == Decimal("0.000012")
    stats = market_stats(details, symbols)
    assert stats["ETH"].volume_24h_usd == Decimal("1671431095.263844")
    assert stats["ETH"].open_interest_usd == Decimal("39559.3278") * Decimal("3550.69")  # base units x mark
    assert stats["PEPE"].open_interest_usd == Decimal(1000000) * Decimal("0.010600")


def test_d12_market_stats_percent_per_hour() -> None:
    frame = msgspec.json.decode(_b(MARKET_STATS))
    st = msgspec.convert(frame["market_stats"], schemas.MarketStats, strict=False)
    assert hourly_from_percent(st.current_funding_rate) == Decimal("-0.000005")
    assert hourly_from_percent(st.funding_rate) == Decimal("0.000011")
    assert st.open_interest == Decimal("185926683.471886")  # USD on this channel


def test_d12_next_funding_is_the_next_top_of_hour() -> None:
    now = datetime(2026, 3, 1, 9, 59, 59, tzinfo=timezone.utc)
    assert next_hour(now) == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_e07_position_from_recorded_account() -> None:
    acct = msgspec.convert(ACCOUNT, schemas.AccountResponse, strict=False).accounts[0]
    assert acct.available_balance == Decimal("12582.743947") and acct.collateral == Decimal("9100.242706")
    snap = position_from_account(acct, 0, "ETH")
    assert snap is not None
    assert snap.quantity == Decimal("18.0193") and snap.entry_price == Decimal("2669.84")
    assert snap.leverage == Decimal(20)  # initial_margin_fraction "5.00" is percent
    assert snap.mark_price == Decimal("54306.566340") / Decimal("18.0193")
    assert snap.unrealized_pnl == Decimal("6197.829558")
    assert position_from_account(acct, 1, "BTC") is None


def _feed() -> LighterMarketFeed:
    symbols = LighterSymbols()
    symbols.add("ETH", 0)
    feed = LighterMarketFeed("ws://127.0.0.1:1/stream", catalog=symbols)
    feed.state("ETH")
    return feed


async def test_d03_snapshot_then_delta_from_recorded_frames() -> None:
    feed = _feed()
    feed.handle_frame(_b(SNAPSHOT))
    assert feed.is_ready("ETH")
    feed.handle_frame(_b(UPDATE))
    book = feed.book("ETH")
    assert book.bids() == [(3326.5, 10.2898), (3326.0, 15.5), (3325.5, 21.0)]
    assert book.asks() == [(3327.8, 4.0), (3328.0, 10.0)]
    assert book.sequence == 4037957053
    bbo = feed.bbo("ETH")
    assert (bbo.bid, bbo.ask) == (Decimal("3326.5"), Decimal("3327.8"))
    await feed.close()


async def test_d04_begin_nonce_mismatch_invalidates() -> None:
    feed = _feed()
    feed.handle_frame(_b(SNAPSHOT))
    gap = json.loads(json.dumps(UPDATE))
    gap["order_book"]["begin_nonce"] = 4037957035  # previous nonce was ...034
    gap["offset"] = SNAPSHOT["offset"] + 1  # offsets are never used for continuity
    feed.handle_frame(_b(gap))
    assert not feed.is_ready("ETH")
    feed.handle_frame(_b(UPDATE))  # stale updates while resyncing are ignored
    assert not feed.is_ready("ETH")
    feed.handle_frame(_b(SNAPSHOT))  # the fresh snapshot brings it back
    assert feed.is_ready("ETH")
    await feed.close()


async def test_d05_crossed_update_invalidates() -> None:
    feed = _feed()
    feed.handle_frame(_b(SNAPSHOT))
    crossed = json.loads(json.dumps(UPDATE))
    crossed["order_book"]["bids"] = [{"price": "3400.00", "size": "1.0000"}]
    feed.handle_frame(_b(crossed))
    assert not feed.is_ready("ETH")
    await feed.close()


@pytest.mark.parametrize("frame", [
    json.dumps(UPDATE)[:60].encode(),  # truncated
    b"not json at all",
    _b({"type": "update/weird", "channel": "weird:0"}),  # unknown type
    _b({"error": {"code": 30005, "message": "Invalid Channel:  (marketId)"}}),  # error frame
    _b({"type": "update/order_book", "channel": "order_book:0", "order_book": {"asks": "x", "nonce": 1}}),
])
async def test_d11_bad_frames_raise_and_book_survives(frame: bytes) -> None:
    feed = _feed()
    feed.handle_frame(_b(SNAPSHOT))
    with pytest.raises(Exception):
        feed.handle_frame(frame)
    assert feed.is_ready("ETH")
    assert feed.book("ETH").best_ask() == (3327.46, 29.0915)
    await feed.close()


def test_position_funding_rows() -> None:
    resp = {"code": 200, "next_cursor": "", "position_fundings": [
        {"timestamp": 1766390400, "market_id": 0, "funding_id": 2, "change": "-0.036100", "discount": "0",
         "rate": "0.0012", "position_size": "1.0000", "position_side": "long"},
        {"timestamp": 1766386800, "market_id": 0, "funding_id": 1, "change": "0.010000", "discount": "0",
         "rate": "-0.0003", "position_size": "1.0000", "position_side": "long"},
        {"timestamp": 1766386800, "market_id": 1, "funding_id": 3, "change": "1.0", "rate": "0.0012"},
        {"timestamp": "soon", "market_id": 0, "change": "1.0"},  # malformed: skipped
    ]}
    since = datetime(2025, 12, 22, 6, 0, tzinfo=timezone.utc)  # 1766383200
    out = funding_payments(resp, 0, "ETH", since)
    assert [(p.amount, p.rate, int(p.ts.timestamp())) for p in out] == [
        (Decimal("0.010000"), Decimal("-0.000003"), 1766386800),
        (Decimal("-0.036100"), Decimal("0.000012"), 1766390400),
    ]
    assert funding_payments(resp, 0, "ETH", datetime(2025, 12, 22, 8, 0, 1, tzinfo=timezone.utc)) == []
