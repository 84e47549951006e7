"""LighterClient end to end against the emulated Lighter: native market data, private
operations through ccxt (E01-E05, E07-E11, D07)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from perpdex.errors import ConfigError, InsufficientMargin, InvalidOrder, OrderNotFound, RateLimited
from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.lighter import LighterClient
from perpdex.exchanges.lighter.signer import SIM_ACCOUNT_INDEX, SIM_API_PRIVATE_KEY
from perpdex.models import OrderStatus, Side
from perpdex.sim.server import start_emulators
from tests.waiting import eventually

ACCT = str(SIM_ACCOUNT_INDEX)


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


async def test_e01_limit_order_rounded_and_min_notional(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    bid, _ = await client.fetch_bbo_prices("ETH")
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.012345"), bid - Decimal("5.005"))
    assert res.success and res.status is OrderStatus.OPEN
    assert res.size == Decimal("0.0123")  # lot 0.0001, rounded down
    assert res.price == bid - Decimal("5.01")  # tick 0.01, buys rounded down (never more aggressive)
    [order] = venue.open_orders(ACCT, "ETH")
    assert _dec(order.qty) == Decimal("0.0123") and _dec(order.price) == res.price
    assert res.order_id == str((1 << 48) + order.id)
    # min notional (10 USD) is checked before sending: an armed 429 is not hit
    venue.faults.inject("http429")
    with pytest.raises(InvalidOrder, match="notional"):
        await client.place_limit_order("ETH", Side.BUY, Decimal("0.005"), Decimal("1000"))
    with pytest.raises(InvalidOrder, match="below minimum"):
        await client.place_limit_order("ETH", Side.BUY, Decimal("0.004"), bid)
    assert venue.faults.take("http429")


async def test_e02_market_order_fills(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    bid, ask = await client.fetch_bbo_prices("BTC")
    res = await client.place_market_order("BTC", Side.BUY, Decimal("0.01"))
    assert res.status is OrderStatus.FILLED and res.filled_size == Decimal("0.01")
    # the market moves (seeded index process) between the BBO read and the order: at the ask of the moment
    assert res.average_price is not None and ask * Decimal("0.999") <= res.average_price <= ask * Decimal("1.005")
    assert venue.account(ACCT).positions["BTC"].qty == pytest.approx(0.01)


async def test_e03_reduce_only_never_flips(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    await client.place_market_order("SOL", Side.BUY, Decimal("0.5"))
    res = await client.place_market_order("SOL", Side.SELL, Decimal("2"), reduce_only=True)
    assert res.filled_size == Decimal("0.5")
    assert venue.account(ACCT).positions["SOL"].qty == 0
    assert await client.fetch_position("SOL") is None
    with pytest.raises(InvalidOrder, match="21732"):  # reduce-only while flat would open a position
        await client.place_market_order("SOL", Side.SELL, Decimal("1"), reduce_only=True)


async def test_e04_post_only_that_would_cross_is_canceled(client: LighterClient) -> None:
    _, ask = await client.fetch_bbo_prices("ETH")
    res = await client.place_limit_order("ETH", Side.BUY, Decimal("0.01"), ask + Decimal("1"), post_only=True)
    assert res.status is OrderStatus.CANCELED and res.filled_size == 0


async def test_e05_cancel_and_unknown_cancel(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
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
        await client.cancel_order("ETH", res.order_id)
    with pytest.raises(OrderNotFound):
        await client.cancel_order("ETH", str((1 << 48) + 987_654))


async def test_e07_position_snapshot(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    assert await client.fetch_position("ETH") is None
    res = await client.place_market_order("ETH", Side.SELL, Decimal("0.05"))
    snap = await client.fetch_position("ETH")
    assert snap is not None
    pos = venue.account(ACCT).positions["ETH"]
    assert snap.quantity == Decimal("-0.05") and snap.side is Side.SELL
    assert snap.entry_price == res.average_price == _dec(pos.entry_price)
    assert snap.leverage == Decimal(5)  # default: min(5, max leverage)
    assert snap.mark_price is not None and abs(snap.mark_price / _dec(venue.mark_price("ETH")) - 1) < Decimal("0.001")
    assert snap.liquidation_price is not None and snap.liquidation_price > snap.entry_price  # short
    assert abs(snap.unrealized_pnl - (snap.entry_price - snap.mark_price) * Decimal("0.05")) < Decimal("0.5")


async def test_e08_available_balance(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    before = await client.fetch_available_balance()
    assert before == pytest.approx(Decimal(repr(venue.available_balance(ACCT))), abs=Decimal("0.000001"))
    await client.place_market_order("BTC", Side.BUY, Decimal("0.1"))  # ~11 000 USD at 5x: ~2 200 margin
    after = await client.fetch_available_balance()
    assert before - after > Decimal(2000)
    assert after == pytest.approx(Decimal(repr(venue.available_balance(ACCT))), abs=Decimal("5"))


async def test_e09_leverage_read_and_set(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    info = await client.fetch_leverage_info("ETH")
    assert info.max_leverage == Decimal(50) and info.current_leverage == Decimal(5)
    assert await client.set_leverage("ETH", Decimal(20))
    assert venue.leverage(ACCT, "ETH") == 20
    info = await client.fetch_leverage_info("ETH")
    assert info.current_leverage == Decimal(20) and info.margin_requirement == Decimal("0.05")
    with pytest.raises(InvalidOrder):
        await client.set_leverage("ETH", Decimal(51))
    assert (await client.fetch_leverage_info("0G")).max_leverage == Decimal(5)


async def test_d07_bbo_from_the_book_without_rest(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    await client.prepare_market_feed("XRP")
    assert await client.feed.wait_ready("XRP", 5)
    await lighter["cluster"].sim.stop()
    (vb, _), (va, _) = venue.bbo("XRP")

    def same() -> bool:
        return client.feed.is_ready("XRP") and client.feed.book("XRP").best_bid() == (vb, venue.bbo("XRP")[0][1])

    await eventually(same, what="feed caught up with the frozen market")
    venue.faults.inject("http429")  # a REST call would raise RateLimited
    assert await client.fetch_bbo_prices("XRP") == (_dec(vb), _dec(va))
    depth = await client.fetch_order_book("XRP", 3)
    assert [lvl["price"] for lvl in depth["bids"]] == [_dec(p) for p, _ in venue.book("XRP", 3)[0]]
    assert venue.faults.take("http429")


async def test_d02_rest_depth_against_emulator(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    bid, _ = await client.fetch_bbo_prices("DOGE")
    await client.place_limit_order("DOGE", Side.BUY, Decimal(100), bid)  # joins the best bid level
    depth = await client.fetch_order_book_rest("DOGE", 5)
    bids, asks = venue.book("DOGE", 5)
    assert [(lvl["price"], lvl["size"]) for lvl in depth["bids"]] == [(_dec(p), _dec(s)) for p, s in bids]
    assert [(lvl["price"], lvl["size"]) for lvl in depth["asks"]] == [(_dec(p), _dec(s)) for p, s in asks]


async def test_e10_errors_map_to_typed_hierarchy(lighter: dict[str, Any], client: LighterClient) -> None:
    venue = lighter["venue"]
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.fetch_order_book_rest("ETH", 5)
    venue.faults.inject("http429")
    with pytest.raises(RateLimited):
        await client.place_market_order("ETH", Side.BUY, Decimal("0.01"))
    with pytest.raises(InsufficientMargin):
        await client.place_market_order("BTC", Side.BUY, Decimal(10))  # 1.1M USD on 100k at 5x
    venue.faults.inject("reject", symbol="ETH")
    with pytest.raises(InvalidOrder):
        await client.place_market_order("ETH", Side.BUY, Decimal("0.01"))


async def test_e11_credentials_never_logged(lighter: dict[str, Any], client: LighterClient,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = SIM_API_PRIVATE_KEY
    assert secret not in repr(client.settings)
    await client.place_market_order("ETH", Side.BUY, Decimal("0.01"))
    errors: list[str] = []
    for call in (client.cancel_order("ETH", str((1 << 48) + 1)),
                 client.place_market_order("BTC", Side.BUY, Decimal(10))):
        try:
            await call
        except Exception as exc:  # noqa: BLE001 - collecting messages
            errors.append(str(exc) + repr(exc))
    assert len(errors) == 2
    text = caplog.text + "".join(errors)
    assert secret not in text and secret[2:] not in text


async def test_funding_payments_from_position_funding() -> None:
    """Funding settled on a short 0G position (+0.012 %/h: shorts receive), read back through
    positionFunding; 1 h is compressed to 0.1 s here."""
    cluster = await start_emulators(["lighter"], funding_time_scale=36_000)
    ep = cluster.endpoints["lighter"]
    c = LighterClient(ExchangeSettings("lighter", ep["rest_url"], ep["ws_url"], options={"ccxt": ep["ccxt"]}))
    try:
        await c.connect()
        since = datetime.now(UTC)
        await c.place_market_order("0G", Side.SELL, Decimal(100))
        acct = cluster.sim.venue("lighter").account(ACCT)
        await eventually(lambda: len(acct.fundings) >= 3, what="three funding settlements")
        payments = await c.fetch_funding_payments("0G", since)
        assert len(payments) >= 3
        assert all(p.amount > 0 and p.rate == Decimal("0.00012") and p.symbol == "0G" for p in payments)
        assert [p.ts for p in payments] == sorted(p.ts for p in payments)
        settled = [f for f in acct.fundings if f.symbol == "0G"]
        assert sum(p.amount for p in payments) == pytest.approx(
            sum(Decimal(f"{f.amount:.6f}") for f in settled[: len(payments)]), abs=Decimal("0.00001"))
        assert await c.fetch_funding_payments("ETH", since) == []
    finally:
        await c.close()
        await cluster.stop()


async def test_e11_incomplete_credentials_are_a_config_error_without_the_key() -> None:
    c = LighterClient(ExchangeSettings("lighter", "http://127.0.0.1:9", "ws://127.0.0.1:9/stream",
                                       credentials={"account_index": 5, "api_private_key": SIM_API_PRIVATE_KEY}))
    try:
        with pytest.raises(ConfigError) as info:
            c.private  # noqa: B018 - building the ccxt client validates the credentials
        assert "api_key_index" in str(info.value) and SIM_API_PRIVATE_KEY not in str(info.value)
    finally:
        await c.close()
