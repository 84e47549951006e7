"""BackpackClient end to end against the emulated Backpack: native market data, orders through
ccxt, native positions / collateral / account-wide leverage / funding payments (E01-E03, E05,
E07-E11, funding payments, D07 through the client)."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from perpdex.errors import (
    AuthenticationError,
    ConfigError,
    InsufficientMargin,
    InvalidOrder,
    MarketNotFound,
    OrderNotFound,
    RateLimited,
)
from perpdex.exchanges.backpack import BackpackClient
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import OrderStatus, Side
from perpdex.sim.venues.backpack.auth import SIM_API_KEY
from tests.waiting import eventually

from .conftest import settings

ACCT = SIM_API_KEY


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


async def test_e01_limit_order_rounded_and_min_size_checked_first(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    bid, _ = await client.fetch_bbo_prices("ETH")
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.012345"), bid - Decimal("5.005"), client_order_id="77")
    assert res.success and res.status is OrderStatus.OPEN
    assert res.size == Decimal("0.0123")  # lot 0.0001, rounded down
    assert res.price == bid - Decimal("5.01")  # tick 0.01, buys rounded down (never more aggressive)
    assert res.client_order_id == "77"
    [order] = venue.open_orders(ACCT, "ETH")
    assert _dec(order.qty) == Decimal("0.0123") and _dec(order.price) == res.price and order.client_id == "77"
    assert res.order_id == str(order.id)
    # size below the minimum is refused before anything is sent: an armed 429 is not hit
    venue.faults.inject("http429")
    with pytest.raises(InvalidOrder, match="below minimum"):
        await client.place_limit_order("ETH", Side.BUY, Decimal("0.00004"), bid)
    with pytest.raises(InvalidOrder, match="client_order_id"):  # Backpack client ids are uint32
        await client.place_limit_order("ETH", Side.BUY, Decimal("0.01"), bid, client_order_id="abc")
    assert venue.faults.take("http429")


async def test_e04_post_only_that_would_cross_expires(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    bid, _ = await client.fetch_bbo_prices("ETH")
    post = await client.place_limit_order("ETH", Side.SELL, Decimal("0.01"), bid - Decimal(1), post_only=True)
    assert post.status is OrderStatus.CANCELED and post.filled_size == 0  # Backpack: status Expired
    assert venue.open_orders(ACCT, "ETH") == [] and venue.account(ACCT).fills == []
    info = await client.fetch_order("ETH", str(post.order_id))
    assert info is not None and info.status is OrderStatus.CANCELED
    rest = await client.place_limit_order("ETH", Side.SELL, Decimal("0.01"), bid + Decimal(50), post_only=True)
    assert rest.status is OrderStatus.OPEN and venue.open_orders(ACCT, "ETH")[0].tif == "post_only"


async def test_e02_market_order_fills(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    _, ask = await client.fetch_bbo_prices("BTC")
    res = await client.place_market_order("BTC", Side.BUY, Decimal("0.01"))
    assert res.status is OrderStatus.FILLED and res.filled_size == Decimal("0.01")
    assert res.average_price is not None and abs(res.average_price / ask - 1) < Decimal("0.001")
    assert venue.account(ACCT).positions["BTC"].qty == pytest.approx(0.01)


async def test_e03_reduce_only_never_flips(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    await client.place_market_order("SOL", Side.BUY, Decimal("0.5"))
    res = await client.place_market_order("SOL", Side.SELL, Decimal("2"), reduce_only=True)
    assert res.filled_size == Decimal("0.5")
    assert venue.account(ACCT).positions["SOL"].qty == 0
    assert await client.fetch_position("SOL") is None
    with pytest.raises(InvalidOrder):  # reduce-only while flat would open a position
        await client.place_market_order("SOL", Side.SELL, Decimal("1"), reduce_only=True)


async def test_e05_cancel_and_unknown_cancel(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    bid, _ = await client.fetch_bbo_prices("ETH")
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.01"), bid - Decimal(30))
    assert res.order_id is not None
    info = await client.fetch_order("ETH", res.order_id)
    assert info is not None and info.status is OrderStatus.OPEN and info.remaining_size == Decimal("0.01")
    cancel = await client.cancel_order("ETH", res.order_id)
    assert cancel.success and cancel.status is OrderStatus.CANCELED
    assert venue.open_orders(ACCT, "ETH") == []
    info = await client.fetch_order("ETH", res.order_id)
    assert info is not None and info.status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await client.cancel_order("ETH", res.order_id)  # no longer open
    with pytest.raises(OrderNotFound):
        await client.cancel_order("ETH", "987654")
    assert await client.fetch_order("ETH", "987654") is None


async def test_e07_position_snapshot(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    assert await client.fetch_position("ETH") is None
    bid, _ = await client.fetch_bbo_prices("ETH")
    # a resting sell adds exposure (netExposureQuantity) but not position: size stays -0.05
    await client.place_limit_order("ETH", Side.SELL, Decimal("0.5"), bid + Decimal(200))
    res = await client.place_market_order("ETH", Side.SELL, Decimal("0.05"))
    snap = await client.fetch_position("ETH")
    assert snap is not None
    pos = venue.account(ACCT).positions["ETH"]
    assert snap.quantity == Decimal("-0.05") and snap.side is Side.SELL
    assert snap.entry_price == res.average_price
    # the exchange sends the entry price to 8 decimals; the engine's float average can carry float
    # noise past that (3899.9900000000002)
    assert snap.entry_price == Decimal(f"{pos.entry_price:.8f}")
    assert snap.leverage == Decimal(5)  # account-wide default
    assert snap.mark_price is not None and abs(snap.mark_price / _dec(venue.mark_price("ETH")) - 1) < Decimal("0.001")
    assert snap.liquidation_price is not None and snap.liquidation_price > snap.entry_price  # short
    assert abs(snap.unrealized_pnl - (snap.entry_price - snap.mark_price) * Decimal("0.05")) < Decimal("0.5")


async def test_e08_available_margin_from_collateral(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    before = await client.fetch_available_balance()
    assert before == pytest.approx(_dec(venue.available_balance(ACCT)), abs=Decimal("0.01"))
    await client.place_market_order("BTC", Side.BUY, Decimal("0.1"))  # ~11 000 USD at 5x: ~2 200 margin
    after = await client.fetch_available_balance()
    assert before - after > Decimal(2000)
    assert after == pytest.approx(_dec(venue.available_balance(ACCT)), abs=Decimal("5"))


async def test_e09_leverage_is_account_wide(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    info = await client.fetch_leverage_info("ETH")
    assert info.max_leverage == Decimal(50) and info.current_leverage == Decimal(5)
    assert await client.set_leverage("BTC", Decimal(20))
    eth = await client.fetch_leverage_info("ETH")  # set on BTC, applies to every market
    assert eth.current_leverage == Decimal(20) and eth.margin_requirement == Decimal("0.05")
    zero_g = await client.fetch_leverage_info("0G")
    assert zero_g.current_leverage == Decimal(10)  # capped by the market's own maximum
    assert venue.leverage(ACCT, "ETH") == 20 and venue.leverage(ACCT, "0G") == 10
    with pytest.raises(InvalidOrder, match="leverage"):
        await client.set_leverage("0G", Decimal(11))


async def test_e10_errors_map_to_typed_hierarchy(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.place_market_order("BTC", Side.BUY, Decimal("0.001"))
    with pytest.raises(InsufficientMargin):
        await client.place_market_order("BTC", Side.BUY, Decimal("100"))  # ~11M USD
    venue.faults.inject("reject")
    with pytest.raises(InvalidOrder):
        await client.place_market_order("BTC", Side.BUY, Decimal("0.001"))
    with pytest.raises(MarketNotFound):
        await client.place_market_order("NOPE", Side.BUY, Decimal("1"))
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.fetch_order_book_rest("BTC")
    other = base64.b64encode(bytes(range(2, 34))).decode()  # a key pair the signatures won't match
    bad = BackpackClient(settings(bp["ep"]))
    bad.settings.credentials["api_secret"] = other
    bad.settings.options = {"ccxt": {k: v for k, v in bp["ep"]["ccxt"].items() if k not in ("apiKey", "secret")}}
    try:
        with pytest.raises(AuthenticationError):
            await bad.fetch_available_balance()
    finally:
        await bad.close()
    with pytest.raises(ConfigError):
        _ = BackpackClient(ExchangeSettings("backpack", bp["ep"]["rest_url"], credentials={"api_key": "x"})).private


async def test_e11_credentials_never_logged_or_raised(bp: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = base64.b64encode(bytes(range(3, 35))).decode()
    s = ExchangeSettings("backpack", bp["ep"]["rest_url"], bp["ep"]["ws_url"],
                         credentials={"api_key": SIM_API_KEY, "api_secret": secret},
                         options={"ccxt": {"rateLimit": 10}})
    assert secret not in repr(s)
    c = BackpackClient(s)
    try:
        await c.connect()
        with pytest.raises(AuthenticationError) as err:
            await c.place_market_order("BTC", Side.BUY, Decimal("0.001"))
        assert secret not in str(err.value) and SIM_API_KEY not in str(err.value)
    finally:
        await c.close()
    assert secret not in caplog.text  # nowhere, not even in ccxt's DEBUG wire log
    # the API key is an ED25519 *public* key: ccxt's DEBUG wire log shows it as the X-API-Key
    # header it sends; perpdex's own records never carry it
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("perpdex"))
    assert ours and SIM_API_KEY not in ours


async def test_funding_payments_recorded_per_leg(bp: dict[str, Any], client: BackpackClient) -> None:
    venue = bp["venue"]
    since = datetime.now(UTC) - timedelta(seconds=1)
    assert await client.fetch_funding_payments("BTC", since) == []
    await client.place_market_order("BTC", Side.SELL, Decimal("0.05"))
    await eventually(lambda: len(venue.account(ACCT).fundings) >= 1, timeout=15, what="a funding settlement")
    pays = await client.fetch_funding_payments("BTC", since)
    engine = [p for p in venue.account(ACCT).fundings if p.symbol == "BTC"]
    assert len(pays) == len(engine) >= 1
    assert pays[0].amount == Decimal(f"{engine[0].amount:.8f}") and pays[0].rate == Decimal("0.0000125")
    assert pays[0].amount > 0  # a short receives a positive rate
    assert pays[0].ts == datetime.fromtimestamp(engine[0].ts / 1000, tz=UTC)
    assert await client.fetch_funding_payments("ETH", since) == []
    assert await client.fetch_funding_payments("BTC", datetime.now(UTC) + timedelta(hours=1)) == []


async def test_d07_client_market_data_ws_first(bp: dict[str, Any], client: BackpackClient) -> None:
    await client.prepare_market_feed("ETH")
    assert await client.feed.wait_ready("ETH", 5)
    depth = await client.fetch_order_book("ETH", 5)
    assert len(depth["bids"]) == 5 and depth["bids"][0]["price"] < depth["asks"][0]["price"]
    assert depth["bids"][0]["price"] > depth["bids"][1]["price"]
    bid, ask = await client.fetch_bbo_prices("ETH")
    assert bid < ask
    rest = await client.fetch_order_book_rest("ETH", 3)
    assert len(rest["asks"]) == 3 and rest["asks"][0]["price"] < rest["asks"][1]["price"]
    with pytest.raises(MarketNotFound):
        await client.prepare_market_feed("NOPE")
    await asyncio.sleep(0)


async def test_client_from_emulator_ccxt_options_only(bp: dict[str, Any]) -> None:
    """The runtime hands a sim client only the emulator's ccxt options (key pair inside), no
    ``credentials``: private calls still work, and the options given are not mutated."""
    options = {"ccxt": dict(bp["ep"]["ccxt"])}
    before = repr(options)
    c = BackpackClient(ExchangeSettings("backpack", bp["ep"]["rest_url"], bp["ep"]["ws_url"], options=options))
    try:
        await c.connect()
        assert c.contracts["BTC"].taker_fee == Decimal("0.0005")  # account fees: 5 bp
        res = await c.place_market_order("XRP", Side.BUY, Decimal("10"))
        assert res.status is OrderStatus.FILLED
        snap = await c.fetch_position("XRP")
        assert snap is not None and snap.quantity == Decimal("10")
    finally:
        await c.close()
    assert repr(options) == before
