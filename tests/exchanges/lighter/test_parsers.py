"""Lighter parsers on recorded and documented payloads (tests/fixtures/lighter, provenance in
tests/fixtures/README.md; fields in docs/exchanges/lighter.md). No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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

from ...fixtures import load

# Payloads and their provenance: tests/fixtures/README.md (docs/exchanges/lighter.md for the fields).
ORDER_BOOK_DETAILS = load("lighter", "order_book_details")  # two perps, one inactive and one 1000-prefixed, a spot
ORDER_BOOK_ORDERS = load("lighter", "order_book_orders")  # L3 rows at a shared price, out of order, a zero row
FUNDING_RATES = load("lighter", "funding_rates")  # with another venue's row and an inactive market's
SNAPSHOT = load("lighter", "ws_order_book_snapshot")
UPDATE = load("lighter", "ws_order_book_update")
MARKET_STATS = load("lighter", "ws_market_stats")
ACCOUNT = load("lighter", "account")


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
    assert symbols.market_id("PEPE") == 9 and symbols.name("PEPE") == "1000PEPE"
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
    due = datetime(2026, 1, 1, 13, tzinfo=UTC)
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
    now = datetime(2026, 3, 1, 9, 59, 59, tzinfo=UTC)
    assert next_hour(now) == datetime(2026, 3, 1, 10, tzinfo=UTC)


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
    with pytest.raises(Exception):  # noqa: B017 - any decode error will do: what matters is the book survives
        feed.handle_frame(frame)
    assert feed.is_ready("ETH")
    assert feed.book("ETH").best_ask() == (3327.46, 29.0915)
    await feed.close()


def test_position_funding_rows() -> None:
    resp = load("lighter", "position_funding")  # the last row is malformed: skipped
    since = datetime(2025, 12, 22, 6, 0, tzinfo=UTC)  # 1766383200
    out = funding_payments(resp, 0, "ETH", since)
    assert [(p.amount, p.rate, int(p.ts.timestamp())) for p in out] == [
        (Decimal("0.010000"), Decimal("-0.000003"), 1766386800),
        (Decimal("-0.036100"), Decimal("0.000012"), 1766390400),
    ]
    assert funding_payments(resp, 0, "ETH", datetime(2025, 12, 22, 8, 0, 1, tzinfo=UTC)) == []
