"""F01, F03, F04: unmodified ccxt 4.5.90 and raw protocol requests against the emulated Lighter."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import pytest

from perpdex.exchanges.lighter.signer import SIM_ACCOUNT_INDEX

ETH = "ETH/USDC:USDC"


async def test_f01_unmodified_ccxt_trades_against_emulator(lighter: dict[str, Any]) -> None:
    config = json.loads(json.dumps(lighter["ep"]["ccxt"]))  # only what endpoints() publishes
    venue = lighter["venue"]
    ex = ccxt_async.lighter(config)
    pro = ccxtpro.lighter(json.loads(json.dumps(lighter["ep"]["ccxt"])))
    try:
        markets = await ex.load_markets()
        assert ETH in markets and markets[ETH]["id"] == "0" and markets[ETH]["precision"]["price"] == 0.01
        assert markets["ETH/USDC"]["spot"]  # the spot list is served too

        ob = await ex.fetch_order_book(ETH, 5)
        best_bid, best_ask = ob["bids"][0][0], ob["asks"][0][0]
        assert best_bid < best_ask

        rates = await ex.fetch_funding_rates()
        assert rates[ETH]["fundingRate"] == pytest.approx(-0.000096)  # fraction per 8 h

        limit = await ex.create_order(ETH, "limit", "buy", 0.01, best_bid - 20, {"clientOrderId": 4242})
        assert limit["clientOrderId"] == "4242"
        opened = await ex.fetch_open_orders(ETH)
        assert [(o["clientOrderId"], o["side"]) for o in opened] == [("4242", "buy")]
        assert opened[0]["price"] == pytest.approx(best_bid - 20)
        await ex.cancel_order(opened[0]["id"], ETH)
        assert await ex.fetch_open_orders(ETH) == []
        closed = await ex.fetch_closed_orders(ETH)
        assert closed[0]["id"] == opened[0]["id"] and closed[0]["status"] == "canceled"

        await ex.create_order(ETH, "market", "buy", 0.02, best_ask * 1.01)
        positions = await ex.fetch_positions([ETH])
        assert positions[0]["side"] == "long" and positions[0]["contracts"] == pytest.approx(0.02)
        await ex.create_order(ETH, "market", "sell", 0.05, best_bid * 0.99, {"reduceOnly": True})
        acct = venue.account(str(SIM_ACCOUNT_INDEX))
        assert acct.positions["ETH"].qty == 0  # reduce-only closed and did not flip

        balance = await ex.fetch_balance()
        assert balance["USDC"]["free"] == pytest.approx(venue.available_balance(str(SIM_ACCOUNT_INDEX)), abs=1e-6)

        await ex.set_leverage(10, ETH, {"marginMode": "cross"})
        assert venue.leverage(str(SIM_ACCOUNT_INDEX), "ETH") == 10

        book = await pro.watch_order_book("BTC/USDC:USDC")
        assert book["bids"][0][0] < book["asks"][0][0]
        book = await pro.watch_order_book("BTC/USDC:USDC")  # an update on top of the snapshot
        assert book["nonce"] is not None and book["bids"][0][0] < book["asks"][0][0]

        with pytest.raises(ccxt.InvalidOrder):
            await ex.cancel_order(str((1 << 48) + 999_999), ETH)
    finally:
        await ex.close()
        await pro.close()


async def test_f01_ccxt_stop_loss_orders(lighter: dict[str, Any]) -> None:
    """ccxt's own ``stopLossPrice`` param: order type 2 with ``TriggerPrice`` (signed by the lighter
    signer), listed ``pending`` with its trigger, cancelled; one already reached is refused
    (21702); a pending reduce-only one fires when the mark crosses it, capped to the position."""
    venue = lighter["venue"]
    ex = ccxt_async.lighter(json.loads(json.dumps(lighter["ep"]["ccxt"])))
    try:
        await ex.load_markets()
        acct = venue.account(str(SIM_ACCOUNT_INDEX))
        ob = await ex.fetch_order_book(ETH, 5)
        await ex.create_order(ETH, "market", "buy", 0.02, ob["asks"][0][0] * 1.01)
        mark = venue.mark_price("ETH")
        trigger = round(mark * 0.9, 2)
        params = {"stopLossPrice": trigger, "reduceOnly": True, "orderExpiry": -1, "clientOrderId": 5151}
        await ex.create_order(ETH, "market", "sell", 0.05, round(trigger * 0.95, 2), params)
        [pending] = await ex.fetch_open_orders(ETH)
        assert pending["triggerPrice"] == trigger and pending["info"]["type"] == "stop-loss"
        assert pending["info"]["status"] == "pending" and pending["reduceOnly"] is True
        await ex.cancel_order(pending["id"], ETH)
        assert await ex.fetch_open_orders(ETH) == []
        with pytest.raises(ccxt.InvalidOrder):
            await ex.create_order(ETH, "market", "sell", 0.02, round(mark * 0.9, 2),
                                  {"stopLossPrice": round(mark * 1.1, 2), "orderExpiry": -1})
        await ex.create_order(ETH, "market", "sell", 0.05, round(trigger * 0.95, 2), params | {"clientOrderId": 5152})
        venue.index.prices["ETH"] *= 0.85
        lighter["cluster"].sim.step()
        assert acct.positions["ETH"].qty == 0  # capped: never short
        assert await ex.fetch_open_orders(ETH) == []
    finally:
        await ex.close()


async def _post_form(url: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(url, data=data) as resp:  # x-www-form-urlencoded
        return resp.status, await resp.json()


async def test_f01_send_tx_form_urlencoded(lighter: dict[str, Any]) -> None:
    """The official SDK posts sendTx form-urlencoded (ccxt uses multipart): both are accepted."""
    rest = lighter["ep"]["rest_url"]
    venue = lighter["venue"]
    bid = venue.bbo("SOL")[0][0]
    price = round((bid - 1.0) * 1000)  # SOL: price_decimals 3
    info = {"AccountIndex": 777, "ApiKeyIndex": 4, "MarketIndex": 2, "ClientOrderIndex": 11, "BaseAmount": 1000,
            "Price": price, "IsAsk": 0, "Type": 0, "TimeInForce": 1, "ReduceOnly": 0, "TriggerPrice": 0,
            "OrderExpiry": int(time.time() * 1000) + 86_400_000, "ExpiredAt": int(time.time() * 1000) + 600_000,
            "Nonce": 0, "Sig": "AAAA", "L2TxAttributes": None}
    status, body = await _post_form(f"{rest}/api/v1/sendTx", {"tx_type": "14", "tx_info": json.dumps(info)})
    assert status == 200 and body["code"] == 200 and isinstance(body["tx_hash"], str) and "volume_quota_remaining" in body
    [order] = venue.open_orders("777", "SOL")
    assert order.qty == 1.0 and order.price == pytest.approx(bid - 1.0) and order.client_id == "11"
    # sequential nonce (no skip-nonce attribute): the same nonce again is refused
    status, body = await _post_form(f"{rest}/api/v1/sendTx", {"tx_type": "14", "tx_info": json.dumps(info)})
    assert status == 400 and "invalid nonce" in body["message"]
    async with aiohttp.ClientSession() as s, s.get(f"{rest}/api/v1/nextNonce",
                                                   params={"account_index": 777, "api_key_index": 4}) as resp:
        assert (await resp.json())["nonce"] == 1


@pytest.mark.parametrize("path,params,code", [
    ("orderBookOrders", {"market_id": "0"}, 20001),  # limit missing
    ("orderBookOrders", {"market_id": "x", "limit": "5"}, 20001),
    ("orderBookOrders", {"market_id": "999", "limit": "5"}, 21602),
    ("accountActiveOrders", {"account_index": str(SIM_ACCOUNT_INDEX), "market_id": "0"}, 20013),  # no token
    ("accountActiveOrders", {"account_index": str(SIM_ACCOUNT_INDEX), "auth": f"1:{SIM_ACCOUNT_INDEX}:4:ab"}, 20013),
    ("accountActiveOrders", {"account_index": "5", "auth": f"{int(time.time()) + 600}:{SIM_ACCOUNT_INDEX}:4:ab"}, 20013),
    ("nosuchendpoint", {}, 29404),
])
async def test_f03_malformed_requests_get_lighter_errors(lighter: dict[str, Any], path: str, params: dict[str, str],
                                                         code: int) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{lighter['ep']['rest_url']}/api/v1/{path}", params=params) as resp:
        body = await resp.json()
        assert resp.status in (400, 404)
    assert body["code"] == code and body["message"]


@pytest.mark.parametrize("form,code", [
    ({"tx_type": "14"}, 20001),
    ({"tx_type": "14", "tx_info": "{broken"}, 21501),
    ({"tx_type": "99", "tx_info": json.dumps({"AccountIndex": 1, "ApiKeyIndex": 4, "Nonce": 1,
                                               "L2TxAttributes": {"4": 1}})}, 21505),
    ({"tx_type": "14", "tx_info": json.dumps({"AccountIndex": 1, "ApiKeyIndex": 4, "Nonce": 2, "MarketIndex": 0,
                                               "BaseAmount": "many", "L2TxAttributes": {"4": 1}})}, 21501),
    ({"tx_type": "14", "tx_info": json.dumps({"AccountIndex": 1, "ApiKeyIndex": 4, "Nonce": 3, "MarketIndex": 0,
                                               "BaseAmount": 1, "Price": 390000, "IsAsk": 0, "Type": 0,
                                               "TimeInForce": 1, "L2TxAttributes": {"4": 1}})}, 21706),  # below min
    ({"tx_type": "15", "tx_info": json.dumps({"AccountIndex": 1, "ApiKeyIndex": 4, "Nonce": 4, "MarketIndex": 0,
                                               "Index": (1 << 48) + 5, "L2TxAttributes": {"4": 1}})}, 21600),
])
async def test_f03_bad_transactions_rejected(lighter: dict[str, Any], form: dict[str, str], code: int) -> None:
    status, body = await _post_form(f"{lighter['ep']['rest_url']}/api/v1/sendTx", form)
    assert status == 400 and body["code"] == code


async def test_f03_bad_ws_messages(lighter: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(lighter["ep"]["ws_url"]) as ws:
        assert (await ws.receive_json())["type"] == "connected"
        await ws.send_str("{nope")
        assert (await ws.receive_json())["error"]["code"] == 30000
        await ws.send_json({"type": "subscribe", "channel": "order_book/12345"})
        assert (await ws.receive_json())["error"]["code"] == 30005
        await ws.send_json({"type": "unsubscribe", "channel": "order_book/0"})
        assert (await ws.receive_json())["error"] == {"code": 30002, "message": "Not Subscribed to : order_book:0"}
        await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{SIM_ACCOUNT_INDEX}"})
        assert (await ws.receive_json())["error"]["code"] == 30012  # private channel without auth
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json()) == {"type": "pong"}


async def test_f04_faults_429_delay_and_reject(lighter: dict[str, Any]) -> None:
    venue = lighter["venue"]
    rest = lighter["ep"]["rest_url"]
    venue.faults.inject("delay")  # the answer comes late but intact
    async with aiohttp.ClientSession() as s, s.get(f"{rest}/api/v1/funding-rates") as resp:
        assert resp.status == 200 and (await resp.json())["code"] == 200
    assert venue.faults.pending("delay") == 0
    venue.faults.inject("http429")
    async with aiohttp.ClientSession() as s, s.get(f"{rest}/api/v1/orderBookDetails") as resp:
        assert resp.status == 429 and (await resp.json())["code"] == 23000
    venue.faults.inject("reject", symbol="ETH")
    ask = venue.bbo("ETH")[1][0]
    info = {"AccountIndex": 5, "ApiKeyIndex": 4, "Nonce": 1, "MarketIndex": 0, "BaseAmount": 100,
            "Price": round(ask * 1.01 * 100), "IsAsk": 0, "Type": 1, "TimeInForce": 0, "ClientOrderIndex": 3,
            "L2TxAttributes": {"4": 1}}
    status, body = await _post_form(f"{rest}/api/v1/sendTx", {"tx_type": "14", "tx_info": json.dumps(info)})
    assert status == 400 and body["code"] == 21737


async def test_f01_ccxt_pro_streams_and_ws_orders(lighter: dict[str, Any]) -> None:
    venue = lighter["venue"]
    ex = ccxtpro.lighter(json.loads(json.dumps(lighter["ep"]["ccxt"])))
    try:
        await ex.load_markets()
        balance = await ex.watch_balance()  # user_stats/<acct>
        assert balance["USDC"]["free"] == pytest.approx(venue.available_balance(str(SIM_ACCOUNT_INDEX)))
        ticker = await ex.watch_ticker(ETH)  # market_stats/0
        assert ticker["markPrice"] == pytest.approx(venue.mark_price("ETH"), rel=1e-3)
        ob = await ex.fetch_order_book(ETH, 5)
        orders_future = asyncio.ensure_future(ex.watch_orders())  # account_all_orders/<acct> with auth
        await asyncio.sleep(0.2)
        await ex.create_order(ETH, "limit", "buy", 0.01, ob["bids"][0][0] - 10, {"clientOrderId": 77})
        orders = await asyncio.wait_for(orders_future, 5)
        assert orders[-1]["clientOrderId"] == "77" and orders[-1]["status"] == "open"
        trades_future = asyncio.ensure_future(ex.watch_my_trades())  # account_all_trades/<acct>
        public_future = asyncio.ensure_future(ex.watch_trades(ETH))  # trade/0
        await asyncio.sleep(0.2)
        await ex.create_order(ETH, "market", "buy", 0.01, ob["asks"][0][0] * 1.01)
        trades = await asyncio.wait_for(trades_future, 5)
        assert trades[-1]["side"] == "buy" and trades[-1]["amount"] == pytest.approx(0.01)
        public = await asyncio.wait_for(public_future, 5)
        assert public[-1]["amount"] == pytest.approx(0.01) and public[-1]["side"] == "buy"  # the aggressor bought
        sent = await ex.create_order_ws(ETH, "limit", "sell", 0.01, ob["asks"][0][0] + 10, {"clientOrderId": 78})
        assert sent["info"]["code"] == 200
        assert [o.client_id for o in venue.open_orders(str(SIM_ACCOUNT_INDEX), "ETH")] == ["77", "78"]
    finally:
        await ex.close()
