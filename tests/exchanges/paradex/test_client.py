"""ParadexClient against the emulated Paradex: execution (E01-E11) and funding payments."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from perpdex.errors import AuthenticationError, InsufficientMargin, InvalidOrder, OrderNotFound, RateLimited
from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.paradex import ParadexClient, signer
from perpdex.exchanges.paradex.client import refine_error
from perpdex.models import OrderStatus, Side
from tests.waiting import eventually

from .conftest import settings


def _acct(paradex: dict[str, Any]) -> Any:
    return paradex["venue"].account(paradex["ep"]["credentials"]["l2_address"])


async def test_catalog_and_rest_depth(client: ParadexClient, paradex: dict[str, Any]) -> None:
    c = await client.contract_attributes("BTC")
    assert (c.contract_id, c.tick_size, c.lot_size, c.min_notional, c.max_leverage) == (
        "BTC-USD-PERP", Decimal("0.1"), Decimal("0.00001"), Decimal("10"), Decimal(50))
    assert "BTC-USD-96000-C" not in {x.contract_id for x in client.contracts.values()}
    depth = await client.fetch_order_book_rest("ETH", 5)
    assert len(depth["bids"]) == 5 and depth["bids"][0]["price"] > depth["bids"][1]["price"]
    assert depth["asks"][0]["price"] < depth["asks"][1]["price"] and depth["bids"][0]["price"] < depth["asks"][0]["price"]


async def test_ws_book_first_then_rest_fallback(client: ParadexClient) -> None:
    await client.prepare_market_feed("SOL")
    assert await client.feed.wait_ready("SOL", 5)  # SBE by default, as production requires
    ws = client.feed_depth("SOL", 5)
    assert ws is not None and len(ws["bids"]) == 5
    bid, ask = await client.fetch_bbo_prices("SOL")
    assert bid < ask


async def test_e01_limit_rounded_and_min_notional_checked(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    bid = Decimal(str(venue.bbo("BTC")[0][0]))
    res = await client.place_limit_order("BTC", Side.BUY, Decimal("0.0012345"), bid - Decimal("500.07"), client_order_id="e01-a")
    assert res.status is OrderStatus.OPEN and res.size == Decimal("0.00123")
    assert res.price == bid - Decimal("500.1")  # rounded down (passive) to the 0.1 tick
    assert res.client_order_id == "e01-a"
    info = await client.fetch_order("BTC", res.order_id)
    assert info is not None and info.status is OrderStatus.OPEN and info.price == res.price
    n_orders = len(_acct(paradex).orders)
    with pytest.raises(InvalidOrder):
        await client.place_limit_order("BTC", Side.BUY, Decimal("0.00005"), bid - 500)  # ~5.5 USD < 10 USD minimum
    assert len(_acct(paradex).orders) == n_orders  # rejected before sending
    await client.cancel_order("BTC", res.order_id)


async def test_e02_market_order_fills(client: ParadexClient, paradex: dict[str, Any]) -> None:
    res = await client.place_market_order("ETH", Side.SELL, Decimal("0.05"))
    assert res.status is OrderStatus.FILLED and res.filled_size == Decimal("0.05")
    assert res.average_price is not None and res.average_price > 0
    assert _acct(paradex).position("ETH").qty == pytest.approx(-0.05)


async def test_e03_reduce_only_never_flips(client: ParadexClient, paradex: dict[str, Any]) -> None:
    await client.place_market_order("SOL", Side.BUY, Decimal("1"))
    res = await client.place_market_order("SOL", Side.SELL, Decimal("3"), reduce_only=True)
    assert res.filled_size == Decimal("1")
    assert _acct(paradex).position("SOL").qty == 0
    with pytest.raises(InvalidOrder):  # nothing left to reduce: Paradex closes it REDUCE_ONLY_WILL_INCREASE
        await client.place_market_order("SOL", Side.SELL, Decimal("1"), reduce_only=True)
    assert _acct(paradex).position("SOL").qty == 0
    assert await client.fetch_position("SOL") is None


async def test_e05_cancel_and_unknown_order(client: ParadexClient, paradex: dict[str, Any]) -> None:
    bid = Decimal(str(paradex["venue"].bbo("ETH")[0][0]))
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.01"), bid - 100)
    out = await client.cancel_order("ETH", res.order_id)
    assert out.status is OrderStatus.CANCELED
    info = await client.fetch_order("ETH", res.order_id)
    assert info is not None and info.status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await client.cancel_order("ETH", res.order_id)  # already closed
    with pytest.raises(OrderNotFound):
        await client.cancel_order("ETH", "1000000000000000000000000042")
    assert await client.fetch_order("ETH", "1000000000000000000000000042") is None


async def test_e07_position_snapshot(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    await client.set_leverage("BTC", Decimal(10))
    await client.place_market_order("BTC", Side.SELL, Decimal("0.01"))
    snap = await client.fetch_position("BTC")
    pos = _acct(paradex).position("BTC")
    assert snap is not None and snap.quantity == Decimal("-0.01")
    assert float(snap.entry_price) == pytest.approx(pos.entry_price)
    assert snap.mark_price is not None and abs(float(snap.mark_price) - venue.mark_price("BTC")) < 50
    assert snap.leverage == 10 and snap.liquidation_price is not None and snap.liquidation_price > snap.entry_price
    assert snap.margin_used == pytest.approx(Decimal("0.01") * snap.entry_price / 10, rel=Decimal("0.01"))


async def test_e08_available_margin(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    acct = _acct(paradex).id
    await client.place_market_order("ETH", Side.BUY, Decimal("1"))
    await paradex["cluster"].sim.stop()
    avail = await client.fetch_available_balance()
    assert float(avail) == pytest.approx(venue.available_balance(acct), rel=1e-6)
    assert avail < Decimal(str(venue.account(acct).balance))  # margin in use is not available


async def test_e09_leverage_per_market(client: ParadexClient, paradex: dict[str, Any]) -> None:
    info = await client.fetch_leverage_info("DOGE")
    assert info.max_leverage == 20 and info.current_leverage == 5
    assert await client.set_leverage("DOGE", Decimal(12))
    info = await client.fetch_leverage_info("DOGE")
    assert info.current_leverage == 12 and info.margin_requirement == Decimal(1) / 12
    assert (await client.fetch_leverage_info("BTC")).current_leverage == 5  # per market
    with pytest.raises(InvalidOrder):
        await client.set_leverage("DOGE", Decimal(21))


async def test_e10_errors_map_to_typed_hierarchy(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.fetch_available_balance()
    with pytest.raises(InsufficientMargin):
        await client.place_market_order("BTC", Side.BUY, Decimal("50"))  # ~5.5 M USD on 100 k
    venue.faults.inject("reject", symbol="ETH")
    with pytest.raises(InvalidOrder):
        await client.place_market_order("ETH", Side.BUY, Decimal("0.01"))
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", "1000000000000000000000000099")
    with pytest.raises(InvalidOrder) as err:  # past our pre-checks: the exchange's INVALID_ORDER_SIZE
        try:
            await client.private.create_order("BTC", "limit", Side.BUY, Decimal("0.00005"), Decimal("100000"))
        except Exception as exc:  # noqa: BLE001 - the client's own mapping step
            raise refine_error(exc) from None
    assert err.value.code == "INVALID_ORDER_SIZE"
    bad = ParadexClient(ExchangeSettings("paradex", paradex["ep"]["rest_url"], paradex["ep"]["ws_url"], credentials={
        "l2_private_key": "0x1234567890abcdef1234567890abcdef", "l2_address": paradex["ep"]["credentials"]["l2_address"]},
        options={"ccxt": {"options": {"sbe": False}}}))
    try:
        with pytest.raises(AuthenticationError):
            await bad.fetch_available_balance()
    finally:
        await bad.close()


async def test_e11_credentials_never_logged_or_raised(paradex: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ep = paradex["ep"]
    key = ep["credentials"]["l2_private_key"]
    messages: list[str] = []
    c = ParadexClient(settings(ep))
    try:
        await c.connect()
        await c.place_market_order("XRP", Side.BUY, Decimal("10"))
        try:
            await c.place_market_order("XRP", Side.BUY, Decimal("1000000"))
        except Exception as exc:  # noqa: BLE001 - collecting the message
            messages.append(str(exc))
        assert repr(c.settings).find(key) < 0
    finally:
        await c.close()
    wrong_key = "0x7e57ab1ec0ffee1234567890abcdef1234567890abcdef1234567890abcd"
    bad = ParadexClient(ExchangeSettings("paradex", ep["rest_url"], ep["ws_url"], credentials={
        "l2_private_key": wrong_key, "l2_address": ep["credentials"]["l2_address"]}))
    try:
        with pytest.raises(AuthenticationError) as err:
            await bad.fetch_available_balance()
        messages.append(str(err.value))
    finally:
        await bad.close()
    text = caplog.text + "\n".join(messages)
    assert messages
    for secret in (key, key[2:], wrong_key, wrong_key[2:], ep["ccxt"]["privateKey"][2:]):
        assert secret.lower() not in text.lower()


async def test_funding_payments_recorded_per_leg(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    venue.set_funding_rate("BTC", 0.0005)
    since = datetime.now(UTC) - timedelta(seconds=1)
    await client.place_market_order("BTC", Side.BUY, Decimal("0.01"))
    acct = _acct(paradex)
    await eventually(lambda: len([f for f in acct.fundings if f.symbol == "BTC"]) >= 2, timeout=10, what="two funding periods")
    pays = await client.fetch_funding_payments("BTC", since)
    engine = [f for f in acct.fundings if f.symbol == "BTC"]
    assert len(pays) >= 2 and all(p.symbol == "BTC" and p.exchange == "paradex" for p in pays)
    assert all(p.amount < 0 for p in pays)  # positive rate: the long pays
    assert [float(p.amount) for p in pays[:2]] == pytest.approx([f.amount for f in engine[:2]], rel=1e-6)
    assert pays == sorted(pays, key=lambda p: p.ts) and pays[0].ts >= since.replace(microsecond=0)
    assert await client.fetch_funding_payments("ETH", since) == []


async def test_e04_post_only_that_would_cross_is_canceled(client: ParadexClient, paradex: dict[str, Any]) -> None:
    ask = Decimal(str(paradex["venue"].bbo("ETH")[1][0]))
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.01"), ask + 5, post_only=True)
    assert res.status is OrderStatus.CANCELED and res.filled_size == 0
    assert _acct(paradex).position("ETH").qty == 0


async def test_fast_signer_installed_on_the_private_client(client: ParadexClient) -> None:
    ex = client.private.client
    assert ex.starknet_sign is signer._ccxt_sign
    assert ex.starknet_encode_structured_data is signer.encode_structured_data
    assert type(ex).starknet_sign is not signer._ccxt_sign  # the ccxt class itself is untouched


async def test_f04_delay_and_429_faults(client: ParadexClient, paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    venue.faults.inject("delay")
    depth = await client.fetch_order_book_rest("BTC", 3)  # answered, late
    assert len(depth["bids"]) == 3 and venue.faults.pending("delay") == 0
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.fetch_order_book_rest("BTC", 3)
    assert len((await client.fetch_order_book_rest("BTC", 3))["asks"]) == 3  # and then served again
