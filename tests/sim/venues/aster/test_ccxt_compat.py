"""Unmodified ccxt 4.5.90 (async_support and pro) against the Aster emulator, configured only
from ``endpoints['aster']['ccxt']`` (F01); malformed requests (F03); faults (F04).

ccxt's nonce is milliseconds x 1000, so concurrent private calls could share a nonce (the
emulator rejects duplicates as Aster does): every call here is sequential.
"""

from __future__ import annotations

import json

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from perpdex.sim.venues.aster.auth import SIM_ADDRESS
from tests.sim.venues.ccxt_steps import long_with_stop_below

SYM = "BTC/USDT:USDT"


@pytest.fixture
async def ex(emulators):
    cfg = emulators.endpoints["aster"]["ccxt"]
    assert json.loads(json.dumps(cfg)) == cfg  # JSON-serializable
    client = ccxt_async.aster(cfg)
    try:
        yield client
    finally:
        await client.close()


async def test_f01_markets_book_and_funding(ex, emulators):
    venue = emulators.sim.venues["aster"]
    markets = await ex.load_markets()
    m = markets[SYM]
    assert m["swap"] and m["active"] and m["id"] == "BTCUSDT" and m["settle"] == "USDT"
    assert m["precision"]["price"] == 0.1 and m["precision"]["amount"] == 0.001
    assert m["limits"]["cost"]["min"] == 5.0
    assert len([k for k, v in markets.items() if v["swap"]]) == len(venue.markets)
    ob = await ex.fetch_order_book(SYM, 7)  # limit rounded up to 10 on the wire
    assert len(ob["bids"]) == 10 and len(ob["asks"]) == 10
    assert ob["bids"][0][0] < ob["asks"][0][0] and ob["bids"][0][0] > ob["bids"][1][0]
    fr = await ex.fetch_funding_rate("XRP/USDT:USDT")
    assert fr["fundingRate"] == pytest.approx(venue.funding_rate("XRP"))
    assert fr["nextFundingTimestamp"] == venue.next_funding_ms("XRP")
    assert fr["markPrice"] == pytest.approx(venue.mark_price("XRP"), rel=1e-3)
    rates = await ex.fetch_funding_rates()
    assert {r["symbol"] for r in rates.values()} == {f"{s}/USDT:USDT" for s in venue.markets}


async def test_f01_orders_positions_balance_leverage(ex, emulators):
    venue = emulators.sim.venues["aster"]
    await ex.load_markets()
    bid = venue.bbo("BTC")[0][0]
    limit = await ex.create_order(SYM, "limit", "buy", 0.01, round(bid - 500, 1))
    assert limit["status"] == "open" and limit["amount"] == 0.01
    assert venue.find_order(SIM_ADDRESS, "BTC", int(limit["id"])).is_open
    canceled = await ex.cancel_order(limit["id"], SYM)
    assert canceled["status"] == "canceled"
    with pytest.raises(ccxt_async.OrderNotFound):
        await ex.cancel_order(limit["id"], SYM)  # no longer open
    with pytest.raises(ccxt_async.OrderNotFound):
        await ex.cancel_order("424242", SYM)
    buy = await ex.create_order(SYM, "market", "buy", 0.02)
    assert buy["status"] == "closed" and buy["filled"] == 0.02
    close = await ex.create_order(SYM, "market", "sell", 0.05, None, {"reduceOnly": True})
    assert close["filled"] == 0.02 and close["reduceOnly"] is True  # capped: never flips
    assert venue.account(SIM_ADDRESS).positions["BTC"].qty == 0
    await ex.create_order("ETH/USDT:USDT", "market", "sell", 0.5)
    positions = await ex.fetch_positions()
    assert [(p["symbol"], p["side"], p["contracts"]) for p in positions] == [("ETH/USDT:USDT", "short", 0.5)]
    assert positions[0]["entryPrice"] > 0 and positions[0]["leverage"] == 5
    bal = await ex.fetch_balance()
    assert bal["USDT"]["free"] == pytest.approx(venue.available_balance(SIM_ADDRESS), rel=1e-6)
    assert bal["USDT"]["total"] == pytest.approx(venue.account(SIM_ADDRESS).balance, rel=1e-9)
    res = await ex.set_leverage(20, "ETH/USDT:USDT")
    assert res["leverage"] == 20 and venue.leverage(SIM_ADDRESS, "ETH") == 20
    with pytest.raises(ccxt_async.BadRequest):
        await ex.set_leverage(101, "ETH/USDT:USDT")  # ETH max 100 in the scenario
    with pytest.raises(ccxt_async.InvalidOrder):
        await ex.create_order(SYM, "limit", "buy", 0.001, 1000.0)  # notional 1 < 5: -4164
    crossing = round(venue.bbo("BTC")[1][0] * 1.002, 1)  # well through the ask even if the market moves
    post_only = await ex.create_order(SYM, "limit", "buy", 0.01, crossing, {"postOnly": True})
    assert post_only["status"] == "canceled" and post_only["filled"] == 0  # GTX would cross: expired


async def test_f01_pro_watch_order_book(emulators):
    venue = emulators.sim.venues["aster"]
    ex = ccxt_pro.aster(emulators.endpoints["aster"]["ccxt"])
    try:
        ob = await ex.watch_order_book("ETH/USDT:USDT")
        assert len(ob["bids"]) == 20 and len(ob["asks"]) == 20
        ob = await ex.watch_order_book("ETH/USDT:USDT", 5)
        assert ob["bids"][0][0] < ob["asks"][0][0]
        assert abs(ob["bids"][0][0] / venue.bbo("ETH")[0][0] - 1) < 0.01
        # one SUBSCRIBE frame without id, default depth 20; the second watch reuses it
        assert emulators.dialects["aster"].subscriptions() == [["ethusdt@depth20"]]
    finally:
        await ex.close()


async def test_f03_malformed_requests_answered_like_aster(ex, emulators):
    rest = emulators.endpoints["aster"]["rest_url"]
    await ex.load_markets()
    async with aiohttp.ClientSession() as http:
        async def call(method: str, path: str, **kw) -> tuple[int, dict]:
            url = path if path.startswith("http") else rest + path
            async with http.request(method, url, **kw) as r:
                return r.status, await r.json(content_type=None)

        assert await call("GET", "/fapi/v3/depth?symbol=NOPEUSDT") == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, body = await call("GET", "/fapi/v3/depth?symbol=BTCUSDT&limit=7")
        assert status == 400 and body["code"] == -4021
        status, body = await call("GET", "/fapi/v3/depth")
        assert status == 400 and body["code"] == -1102 and "symbol" in body["msg"]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body = await call("POST", "/fapi/v3/order", data=f"nonce=1&user={SIM_ADDRESS}&signer={SIM_ADDRESS}&symbol=BTCUSDT",
                                  headers=form)
        assert status == 401 and body["code"] == -1022  # no signature
        signed = ex.sign("v3/order", ["fapiPrivate"], "POST",
                         {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})
        assert (await call("POST", signed["url"], data=signed["body"], headers=signed["headers"]))[0] == 200
        status, body = await call("POST", signed["url"], data=signed["body"], headers=signed["headers"])
        assert (status, body["code"]) == (400, -4225)  # replayed nonce
        tampered = ex.sign("v3/order", ["fapiPrivate"], "POST",
                           {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})
        body_t = tampered["body"].replace("quantity=0.001", "quantity=0.002")
        status, body = await call("POST", tampered["url"], data=body_t, headers=tampered["headers"])
        assert (status, body["code"]) == (401, -1022)  # signature does not cover the sent bytes
        for params, code in (({"symbol": "BTCUSDT", "side": "UP", "type": "MARKET", "quantity": "1"}, -1117),
                             ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.0011",
                               "price": "100000", "timeInForce": "GTC"}, -4023),
                             ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
                               "price": "100000.05", "timeInForce": "GTC"}, -4014),
                             ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "abc",
                               "price": "100000", "timeInForce": "GTC"}, -1102)):
            req = ex.sign("v3/order", ["fapiPrivate"], "POST", params)
            status, body = await call("POST", req["url"], data=req["body"], headers=req["headers"])
            assert (status, body["code"]) == (400, code), params
        status, _ = await call("GET", "/fapi/v3/exchangeInfo")
        assert status == 200


async def test_f04_faults_429_and_reject(ex, emulators):
    venue = emulators.sim.venues["aster"]
    await ex.load_markets()
    venue.faults.inject("http429")
    with pytest.raises(ccxt_async.RateLimitExceeded):
        await ex.fetch_order_book(SYM, 5)
    venue.faults.inject("reject", symbol="BTC")
    with pytest.raises(ccxt_async.InvalidOrder, match="-2010"):
        await ex.create_order(SYM, "market", "buy", 0.001)
    assert (await ex.create_order(SYM, "market", "buy", 0.001))["status"] == "closed"


async def test_f01_conditional_stop_market_orders(ex, emulators):
    """ccxt's own conditional calls: ``create_order(type="market", params={"stopPrice",
    "workingType", "reduceOnly"})`` -> ``STOP_MARKET`` on the wire, listed by ``fetch_open_orders``
    with its trigger, cancelled; a stop already reached -> -2021 (OrderImmediatelyFillable);
    ``closePosition`` fires for the whole position when the mark crosses it."""
    venue = emulators.sim.venues["aster"]
    mark, trigger, stop = await long_with_stop_below(ex, venue, SYM, "stopPrice",
                                                     {"workingType": "MARK_PRICE", "reduceOnly": True})
    assert stop["status"] == "open" and stop["triggerPrice"] == trigger and stop["reduceOnly"] is True
    assert stop["info"]["type"] == "STOP_MARKET" and stop["info"]["workingType"] == "MARK_PRICE"
    [listed] = [o for o in await ex.fetch_open_orders(SYM) if o["id"] == stop["id"]]
    assert listed["triggerPrice"] == trigger and listed["amount"] == 0.05
    engine = venue.find_order(SIM_ADDRESS, "BTC", int(stop["id"]))
    assert engine.status == "untriggered" and engine.trigger_by == "mark"
    assert (await ex.cancel_order(stop["id"], SYM))["status"] == "canceled"
    with pytest.raises(ccxt_async.OrderImmediatelyFillable):
        await ex.create_order(SYM, "market", "sell", 0.02, None, {"stopPrice": round(mark * 1.1, 1)})
    close = await ex.create_order(SYM, "market", "sell", None, None,
                                  {"stopPrice": trigger, "closePosition": True, "workingType": "MARK_PRICE"})
    assert close["info"]["closePosition"] is True
    venue.index.prices["BTC"] *= 0.85
    emulators.sim.step()
    done = await ex.fetch_order(close["id"], SYM)
    assert done["status"] == "closed" and done["filled"] == 0.02 and done["info"]["origType"] == "STOP_MARKET"
    assert venue.account(SIM_ADDRESS).positions["BTC"].qty == 0
