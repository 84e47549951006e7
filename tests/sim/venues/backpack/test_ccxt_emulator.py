"""F01: unmodified ccxt 4.5.90 (``async_support`` and ``pro``) against the emulated Backpack with
only the emulator's constructor options (URLs, the sim ED25519 key pair); F02: the official
``bpx-py`` SDK reads markets, the book and funding with only its base URL changed."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
from bpx.async_.public import Public

from perpdex.sim.venues.backpack.auth import SIM_API_KEY
from tests.sim.venues.ccxt_steps import long_with_stop_below
from tests.waiting import eventually

BTC = "BTC/USDC:USDC"
ETH = "ETH/USDC:USDC"


@pytest.fixture
async def ex(bp: dict[str, Any]):
    e = ccxt_async.backpack(copy.deepcopy(bp["ep"]["ccxt"]))
    try:
        yield e
    finally:
        await e.close()


async def test_f01_ccxt_public_calls(bp: dict[str, Any], ex: Any) -> None:
    venue = bp["venue"]
    markets = await ex.load_markets()
    assert {m for m in markets if m.endswith(":USDC")} == {f"{s}/USDC:USDC" for s in venue.markets}
    btc = markets[BTC]
    assert btc["id"] == "BTC_USDC_PERP" and btc["swap"] and btc["active"] and btc["precision"]["price"] == 0.1
    book = await ex.fetch_order_book(BTC, 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert book["bids"][0][0] > book["bids"][1][0]  # ccxt sorts the ascending wire order
    assert isinstance(book["nonce"], int) and book["timestamp"] is not None
    rate = await ex.fetch_funding_rate(ETH)
    assert rate["fundingRate"] == pytest.approx(venue.funding_rate("ETH"))
    assert rate["nextFundingTimestamp"] == venue.next_funding_ms("ETH")
    assert not ex.has["fetchFundingRates"]  # ccxt 4.5.90 has no fetch_funding_rates for Backpack
    ticker = await ex.fetch_ticker(BTC)
    assert ticker["quoteVolume"] == pytest.approx(venue.markets["BTC"].volume_24h_usd)
    oi = await ex.fetch_open_interest(BTC)
    assert oi["openInterestValue"] > 0  # ccxt's label; the wire value is base units


async def test_f01_ccxt_orders_positions_balance_leverage(bp: dict[str, Any], ex: Any) -> None:
    venue = bp["venue"]
    await ex.load_markets()
    book = await ex.fetch_order_book(BTC, 5)
    limit = await ex.create_order(BTC, "limit", "buy", 0.01, book["bids"][0][0] - 500, {"postOnly": True, "clientOrderId": 42})
    assert limit["status"] == "open" and limit["clientOrderId"] == "42" and limit["postOnly"]
    [resting] = venue.open_orders(SIM_API_KEY, "BTC")
    assert str(resting.id) == limit["id"] and resting.tif == "post_only" and resting.client_id == "42"
    assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [limit["id"]]
    assert (await ex.fetch_order(limit["id"], BTC))["status"] == "open"
    cancelled = await ex.cancel_order(limit["id"], BTC)
    assert cancelled["status"] == "canceled" and venue.open_orders(SIM_API_KEY) == []
    assert (await ex.fetch_order(limit["id"], BTC))["status"] == "canceled"  # from order history

    bought = await ex.create_order(BTC, "market", "buy", 0.02)
    assert bought["status"] == "closed" and bought["filled"] == pytest.approx(0.02)
    [pos] = await ex.fetch_positions()
    assert pos["symbol"] == BTC and pos["side"] == "long" and float(pos["contracts"]) == pytest.approx(0.02)
    closed = await ex.create_order(BTC, "market", "sell", 0.05, None, {"reduceOnly": True})
    assert closed["filled"] == pytest.approx(0.02)  # reduce-only never flips
    assert venue.account(SIM_API_KEY).positions["BTC"].qty == 0 and await ex.fetch_positions() == []

    balance = await ex.fetch_balance()
    assert balance["free"]["USDC"] == pytest.approx(venue.available_balance(SIM_API_KEY), abs=0.01)
    assert not ex.has["setLeverage"]  # account-wide leverage through the implicit API instead
    await ex.private_patch_api_v1_account({"leverageLimit": "10"})
    assert venue.leverage(SIM_API_KEY, "BTC") == 10 and venue.leverage(SIM_API_KEY, "0G") == 10  # 0G max 10
    account = await ex.private_get_api_v1_account()
    assert account["leverageLimit"] == "10"
    assert await ex.fetch_funding_history(BTC) == []  # no settlement yet on a fresh account


async def test_f01_ccxt_conditional_orders(bp: dict[str, Any], ex: Any) -> None:
    """ccxt's own ``triggerPrice`` param: a market order sent with ``triggerPrice`` and
    ``triggerQuantity`` (plus ``triggerBy``/``reduceOnly`` passed through) rests ``TriggerPending``,
    is listed with its trigger, cancelled; one already reached is refused (InvalidOrder); a
    pending one fires when the mark crosses it and is capped to the position."""
    venue = bp["venue"]
    mark, trigger, stop = await long_with_stop_below(ex, venue, BTC, "triggerPrice",
                                                     {"triggerBy": "MarkPrice", "reduceOnly": True})
    assert stop["status"] == "open" and stop["triggerPrice"] == trigger and stop["amount"] == 0.05
    assert stop["info"]["status"] == "TriggerPending" and stop["info"]["triggerQuantity"] == "0.05000"
    [listed] = await ex.fetch_open_orders(BTC)
    assert listed["id"] == stop["id"] and listed["reduceOnly"] and listed["info"]["triggerBy"] == "MarkPrice"
    await ex.cancel_order(stop["id"], BTC)
    assert await ex.fetch_open_orders(BTC) == []
    with pytest.raises(ccxt_async.InvalidOrder):
        await ex.create_order(BTC, "market", "sell", 0.01, None, {"triggerPrice": round(mark * 1.1, 1)})
    await ex.create_order(BTC, "market", "sell", 0.05, None,
                          {"triggerPrice": trigger, "triggerBy": "MarkPrice", "reduceOnly": True})
    venue.index.prices["BTC"] *= 0.85
    bp["cluster"].sim.step()
    assert venue.account(SIM_API_KEY).positions["BTC"].qty == 0  # capped: never short
    assert await ex.fetch_open_orders(BTC) == []


async def test_f01_ccxt_pro_order_book_and_private_stream(bp: dict[str, Any]) -> None:
    venue = bp["venue"]
    ex = ccxt_pro.backpack(copy.deepcopy(bp["ep"]["ccxt"]))
    try:
        book = await asyncio.wait_for(ex.watch_order_book(ETH), 10)  # snapshot after 10 buffered deltas
        assert book["nonce"] >= 1 and book["bids"][0][0] < book["asks"][0][0]
        book = await ex.watch_order_book(ETH)
        (bid, _), (ask, _) = venue.bbo("ETH")
        assert abs(book["bids"][0][0] - bid) < 5 and abs(book["asks"][0][0] - ask) < 5
        # signed SUBSCRIBE account.orderUpdate.ETH_USDC_PERP, verified by the emulator
        watcher = asyncio.ensure_future(ex.watch_orders(ETH))
        dialect = bp["dialect"]
        await eventually(lambda: any("account.orderUpdate.ETH_USDC_PERP" in s for s in dialect.subscriptions()),
                         what="private stream subscribed")
        order = await ex.create_order(ETH, "market", "buy", 0.1)
        updates = await asyncio.wait_for(watcher, 5)
        assert any(u["id"] == order["id"] and u["status"] == "closed" for u in updates)
        # positions: the snapshot on subscribe carries no event type; the next change does
        positions = asyncio.ensure_future(ex.watch_positions([ETH]))
        await eventually(lambda: any("account.positionUpdate.ETH_USDC_PERP" in s for s in dialect.subscriptions()),
                         what="position stream subscribed")
        await ex.create_order(ETH, "market", "buy", 0.2)
        [pos] = await asyncio.wait_for(positions, 5)
        assert pos["symbol"] == ETH and float(pos["contracts"]) == pytest.approx(0.3)
    finally:
        await ex.close()


async def test_f02_bpx_py_reads_markets_book_and_funding(bp: dict[str, Any]) -> None:
    venue = bp["venue"]

    class SimPublic(Public):
        BASE_URL = bp["ep"]["rest_url"] + "/"

    api = SimPublic()
    markets = await api.get_markets()
    assert {m["symbol"] for m in markets} == {f"{s}_USDC_PERP" for s in venue.markets}
    depth = await api.get_depth("BTC_USDC_PERP")
    assert float(depth["bids"][-1][0]) < float(depth["asks"][0][0]) and int(depth["lastUpdateId"]) > 0
    [mark] = await api.get_all_mark_prices("SOL_USDC_PERP")
    assert float(mark["fundingRate"]) == pytest.approx(venue.funding_rate("SOL"))
    assert mark["nextFundingTimestamp"] == venue.next_funding_ms("SOL")
    assert isinstance(await api.get_funding_interval_rates("SOL_USDC_PERP"), list)
    [oi] = await api.get_open_interest("SOL_USDC_PERP")
    assert float(oi["openInterest"]) > 0
