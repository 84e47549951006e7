"""AsterClient end to end against the emulator: catalog, REST depth, BBO, orders, positions,
balance, leverage, errors (E01, E02, E03, E05, E07, E08, E09, E10, E11; D01/D02/D07 via the client)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from perpdex.errors import AuthenticationError, ExchangeError, InvalidOrder, MarketNotFound, OrderNotFound, RateLimited
from perpdex.exchanges.aster import AsterClient
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import OrderStatus, Side
from perpdex.sim.venues.aster.auth import SIM_ADDRESS, SIM_PRIVATE_KEY
from tests.waiting import eventually

D = Decimal


def _settings(cluster, **kw) -> ExchangeSettings:
    ep = cluster.endpoints["aster"]
    return ExchangeSettings("aster", rest_url=ep["rest_url"], ws_url=ep["ws_url"], options={"ccxt": ep["ccxt"]}, **kw)


@pytest.fixture
async def client(emulators):
    c = AsterClient(_settings(emulators))
    await c.connect()
    try:
        yield c
    finally:
        await c.close()


async def test_d01_catalog_with_leverage_brackets(client, emulators):
    venue = emulators.sim.venues["aster"]
    assert set(client.contracts) == set(venue.markets)
    btc = await client.contract_attributes("BTC")
    assert (btc.contract_id, btc.tick_size, btc.lot_size, btc.min_notional) == ("BTCUSDT", D("0.1"), D("0.001"), D("5"))
    assert btc.max_leverage == 125 and client.contracts["2Z"].max_leverage == 20  # from leverageBracket
    assert btc.taker_fee == D("0.00035") and btc.active
    with pytest.raises(MarketNotFound):
        await client.contract_attributes("NOPE")


async def test_d01_without_credentials_public_only(emulators):
    ep = emulators.endpoints["aster"]
    c = AsterClient(ExchangeSettings("aster", rest_url=ep["rest_url"], ws_url=ep["ws_url"]))
    try:
        await c.connect()
        assert c.contracts["BTC"].max_leverage == D(10)  # conservative default without brackets
        assert (await c.fetch_order_book_rest("ETH", 3))["bids"]
        with pytest.raises(AuthenticationError):
            await c.fetch_available_balance()
    finally:
        await c.close()


async def test_d02_rest_depth_and_d07_bbo_without_rest(client, emulators):
    venue = emulators.sim.venues["aster"]
    depth = await client.fetch_order_book_rest("SOL", 7)
    assert len(depth["bids"]) == 7 and len(depth["asks"]) == 7
    prices = [x["price"] for x in depth["bids"]]
    assert prices == sorted(prices, reverse=True) and depth["bids"][0]["price"] < depth["asks"][0]["price"]
    await client.prepare_market_feed("SOL")
    assert await client.feed.wait_ready("SOL", 5)
    await eventually(lambda: client.feed.state("SOL").bbo is not None, "a SOL bookTicker frame")
    venue.faults.inject("http429")  # a REST call now would fail: proves the BBO comes from the stream
    bid, ask = await client.fetch_bbo_prices("SOL")
    assert bid < ask and venue.faults.pending("http429") == 1
    ws_depth = await client.fetch_order_book("SOL", 5)
    assert len(ws_depth["asks"]) == 5 and venue.faults.pending("http429") == 1
    with pytest.raises(RateLimited):
        await client.fetch_order_book_rest("SOL", 5)


async def test_e01_limit_order_rounded_and_min_notional_checked_before_sending(client, emulators):
    venue = emulators.sim.venues["aster"]
    bid = D(repr(venue.bbo("BTC")[0][0]))
    res = await client.place_limit_order("BTC", Side.BUY, D("0.0129"), bid - D("300.07"), client_order_id="e01-a")
    assert res.success and res.status is OrderStatus.OPEN
    assert res.size == D("0.012") and res.price == bid - D("300.1")  # lot down, tick passively down
    order = venue.find_order(SIM_ADDRESS, "BTC", int(res.order_id))
    assert order.qty == 0.012 and order.price == float(bid - D("300.1")) and order.client_id == "e01-a"
    sell = await client.place_limit_order("BTC", Side.SELL, D("0.01"), bid + D("300.01"))
    assert sell.price == bid + D("300.1")  # sells round up
    before = len(venue.account(SIM_ADDRESS).orders)
    with pytest.raises(InvalidOrder, match="notional"):
        await client.place_limit_order("BTC", Side.BUY, D("0.001"), D("1000"))
    with pytest.raises(InvalidOrder, match="size"):
        await client.place_limit_order("BTC", Side.BUY, D("0.0004"), bid)
    assert len(venue.account(SIM_ADDRESS).orders) == before  # nothing was sent


async def test_e02_market_order_fills(client, emulators):
    res = await client.place_market_order("ETH", Side.BUY, D("0.5"))
    assert res.status is OrderStatus.FILLED and res.filled_size == D("0.5") and res.average_price > 0
    pos = emulators.sim.venues["aster"].account(SIM_ADDRESS).positions["ETH"]
    assert pos.qty == 0.5


async def test_e03_reduce_only_close_never_flips(client, emulators):
    await client.place_market_order("SOL", Side.SELL, D("2"))
    res = await client.place_market_order("SOL", Side.BUY, D("5"), reduce_only=True)
    assert res.filled_size == D("2")
    assert await client.fetch_position("SOL") is None
    with pytest.raises(ExchangeError, match="-2022"):  # nothing left to reduce: rejected, not a new long
        await client.place_market_order("SOL", Side.BUY, D("1"), reduce_only=True)
    assert await client.fetch_position("SOL") is None


async def test_e05_cancel_and_unknown_order(client, emulators):
    bid = D(repr(emulators.sim.venues["aster"].bbo("INJ")[0][0]))
    res = await client.place_limit_order("INJ", Side.BUY, D("10"), bid - D("1"))
    info = await client.fetch_order("INJ", res.order_id)
    assert info is not None and info.status is OrderStatus.OPEN and info.remaining_size == D("10")
    cancel = await client.cancel_order("INJ", res.order_id)
    assert cancel.status is OrderStatus.CANCELED and cancel.order_id == res.order_id
    assert (await client.fetch_order("INJ", res.order_id)).status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await client.cancel_order("INJ", res.order_id)
    with pytest.raises(OrderNotFound):
        await client.cancel_order("INJ", "777")
    assert await client.fetch_order("INJ", "777") is None


async def test_e07_position_snapshot(client, emulators):
    venue = emulators.sim.venues["aster"]
    assert await client.fetch_position("AAVE") is None
    await client.set_leverage("AAVE", D(10))
    await client.place_market_order("AAVE", Side.SELL, D("3"))
    snap = await client.fetch_position("AAVE")
    pos = venue.account(SIM_ADDRESS).positions["AAVE"]
    assert snap is not None and snap.quantity == D("-3") and snap.side is Side.SELL
    assert float(snap.entry_price) == pytest.approx(pos.entry_price)
    assert float(snap.mark_price) == pytest.approx(venue.mark_price("AAVE"), rel=1e-3)
    assert float(snap.unrealized_pnl) == pytest.approx((venue.mark_price("AAVE") - pos.entry_price) * -3, abs=0.5)
    assert snap.leverage == 10
    assert float(snap.liquidation_price) == pytest.approx(venue.liquidation_price(SIM_ADDRESS, "AAVE"), rel=1e-6)
    assert snap.liquidation_price > snap.entry_price  # a short liquidates above entry


async def test_e08_available_balance(client, emulators):
    venue = emulators.sim.venues["aster"]
    start = await client.fetch_available_balance()
    assert float(start) == pytest.approx(venue.available_balance(SIM_ADDRESS))
    await client.place_market_order("BTC", Side.BUY, D("0.1"))  # ~11k notional at 5x -> ~2.2k margin
    after = await client.fetch_available_balance()
    assert float(after) == pytest.approx(venue.available_balance(SIM_ADDRESS), rel=1e-6)
    assert start - after > D(2000)


async def test_e09_leverage_read_and_set_per_symbol(client, emulators):
    venue = emulators.sim.venues["aster"]
    info = await client.fetch_leverage_info("XRP")
    assert (info.max_leverage, info.current_leverage, info.margin_requirement) == (75, 5, D("0.2"))
    assert await client.set_leverage("XRP", D(25)) is True
    info = await client.fetch_leverage_info("XRP")
    assert info.current_leverage == 25 and venue.leverage(SIM_ADDRESS, "XRP") == 25
    assert (await client.fetch_leverage_info("DOGE")).current_leverage == 5  # per symbol
    with pytest.raises(InvalidOrder):
        await client.set_leverage("XRP", D(76))


async def test_e10_error_mapping_and_e11_no_secret_in_logs(emulators, caplog):
    venue = emulators.sim.venues["aster"]
    c = AsterClient(_settings(emulators, credentials={"private_key": SIM_PRIVATE_KEY}))
    try:
        with caplog.at_level(logging.DEBUG):
            await c.connect()
            venue.faults.inject("http429")
            with pytest.raises(RateLimited) as rl:
                await c.fetch_available_balance()
            venue.faults.inject("reject", symbol="ETH")
            with pytest.raises(InvalidOrder) as rej:
                await c.place_market_order("ETH", Side.BUY, D("0.01"))
            with pytest.raises(OrderNotFound) as nf:
                await c.cancel_order("ETH", "1")
        secret = SIM_PRIVATE_KEY[2:].lower()
        for text in [caplog.text, str(rl.value), str(rej.value), str(nf.value)]:
            assert secret not in text.lower()
    finally:
        await c.close()


async def test_funding_payments_from_income(client, emulators):
    venue = emulators.sim.venues["aster"]
    since = datetime.now(UTC) - timedelta(minutes=1)
    await client.place_market_order("XRP", Side.BUY, D("100"))  # XRP: 1 h interval, paid every 5 s here
    await eventually(lambda: bool(venue.account(SIM_ADDRESS).fundings), "a funding payment on the venue")
    pays = await client.fetch_funding_payments("XRP", since)
    paid = venue.account(SIM_ADDRESS).fundings
    assert len(pays) == len(paid) >= 1
    assert float(pays[0].amount) == pytest.approx(paid[0].amount, abs=1e-8)
    assert pays[0].amount < 0  # positive rate: the long pays


async def test_e04_post_only_that_would_cross_is_not_filled(client, emulators):
    venue = emulators.sim.venues["aster"]
    ask = D(repr(venue.bbo("DOGE")[1][0]))
    res = await client.place_limit_order("DOGE", Side.BUY, D("100"), ask * D("1.01"), post_only=True)
    assert res.status is OrderStatus.CANCELED and res.filled_size == 0
    assert "DOGE" not in venue.account(SIM_ADDRESS).positions or venue.account(SIM_ADDRESS).positions["DOGE"].qty == 0
