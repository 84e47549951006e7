"""Unmodified ccxt 4.5.90 (async_support and pro) against the emulated Paradex (F01), and the
emulator's answers to malformed requests (F03)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.paradex import signer
from perpdex.sim.venues.paradex import ParadexEmulator

BTC = "BTC/USD:USDC"


async def test_f01_ccxt_async_support_every_call(paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    ex = ccxt_async.paradex(copy.deepcopy(paradex["ep"]["ccxt"]))  # plain ccxt, its own signer
    try:
        markets = await ex.load_markets()
        assert BTC in markets and markets[BTC]["id"] == "BTC-USD-PERP"
        ob = await ex.fetch_order_book(BTC)
        assert ob["bids"][0][0] < ob["asks"][0][0] and ob["nonce"] > 0
        fr = await ex.fetch_funding_rate(BTC)
        assert fr["fundingRate"] == pytest.approx(venue.funding_rate("BTC")) and fr["interval"] == "8h"
        rates = await ex.fetch_funding_rates()
        assert len(rates) == len(venue.markets)
        bid = venue.bbo("BTC")[0][0]
        limit = await ex.create_order(BTC, "limit", "buy", 0.001, round(bid - 500, 1))
        assert limit["status"] == "open"
        acct = venue.account(paradex["ep"]["ccxt"]["options"]["paradexAccount"]["address"])
        assert len(venue.open_orders(acct.id, "BTC")) == 1
        await ex.cancel_order(limit["id"], BTC)
        assert (await ex.fetch_order(limit["id"], BTC))["status"] == "canceled"
        mkt = await ex.create_order(BTC, "market", "buy", 0.002)
        filled = await ex.fetch_order(mkt["id"], BTC)
        assert filled["status"] == "closed" and filled["filled"] == pytest.approx(0.002)
        positions = await ex.fetch_positions()
        assert positions[0]["symbol"] == BTC and positions[0]["contracts"] == pytest.approx(0.002)
        assert positions[0]["side"] == "long"
        ro = await ex.create_order(BTC, "market", "sell", 0.005, None, {"reduceOnly": True})
        await ex.fetch_order(ro["id"], BTC)
        assert acct.position("BTC").qty == 0  # reduce-only closed only the position
        bal = await ex.fetch_balance()
        assert bal["USDC"]["total"] == pytest.approx(acct.balance)
        await ex.set_leverage(7, BTC)
        assert (await ex.fetch_leverage(BTC))["longLeverage"] == 7
    finally:
        await ex.close()


async def test_f01_ccxt_conditional_orders(paradex: dict[str, Any]) -> None:
    """ccxt's own trigger params: ``triggerPrice`` -> ``STOP_MARKET`` with ``trigger_price`` and the
    ``REDUCE_ONLY`` flag, read back ``UNTRIGGERED`` with its trigger, cancelled; ``stopLossPrice``
    -> ``STOP_LOSS_MARKET`` size 0 (the whole position), which fires when the mark crosses it;
    a trigger already reached is refused (InvalidOrder / BadRequest)."""
    venue, sim = paradex["venue"], paradex["cluster"].sim
    ex = ccxt_async.paradex(copy.deepcopy(paradex["ep"]["ccxt"]))
    try:
        await ex.load_markets()
        acct = venue.account(paradex["ep"]["ccxt"]["options"]["paradexAccount"]["address"])
        await ex.create_order(BTC, "market", "buy", 0.003)
        mark = venue.mark_price("BTC")
        stop = await ex.create_order(BTC, "market", "sell", 0.002, None,
                                     {"triggerPrice": round(mark * 0.9, 1), "reduceOnly": True})
        got = await ex.fetch_order(stop["id"], BTC)
        assert got["info"]["type"] == "STOP_MARKET" and got["info"]["status"] == "UNTRIGGERED"
        assert got["status"] == "open" and got["triggerPrice"] == round(mark * 0.9, 1) and got["reduceOnly"]
        assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [stop["id"]]
        await ex.cancel_order(stop["id"], BTC)
        assert (await ex.fetch_order(stop["id"], BTC))["status"] == "canceled"
        with pytest.raises((ccxt_async.InvalidOrder, ccxt_async.BadRequest)):
            await ex.create_order(BTC, "market", "sell", 0.002, None, {"triggerPrice": round(mark * 1.1, 1)})
        sl = await ex.create_order(BTC, "market", "sell", 0.002, None, {"stopLossPrice": round(mark * 0.9, 1)})
        row = (await ex.fetch_order(sl["id"], BTC))["info"]
        assert (row["type"], row["size"], row["flags"]) == ("STOP_LOSS_MARKET", "0", ["REDUCE_ONLY"])
        venue.index.prices["BTC"] *= 0.85
        sim.step()
        done = await ex.fetch_order(sl["id"], BTC)
        assert done["status"] == "closed" and done["filled"] == pytest.approx(0.003)
        assert acct.position("BTC").qty == 0
    finally:
        await ex.close()


@pytest.mark.parametrize("sbe", [False, True], ids=["json", "sbe"])
async def test_f01_ccxt_pro_watch_order_book(paradex: dict[str, Any], sbe: bool) -> None:
    opts = copy.deepcopy(paradex["ep"]["ccxt"])
    opts["options"]["sbe"] = sbe
    ex = ccxt_pro.paradex(opts)
    try:
        first = await ex.watch_order_book("ETH/USD:USDC")
        nonce = first["nonce"]
        assert len(first["bids"]) == 15 and first["bids"][0][0] < first["asks"][0][0]
        later = await ex.watch_order_book("ETH/USD:USDC")
        assert later["nonce"] > nonce
    finally:
        await ex.close()


async def test_f01_ccxt_pro_private_streams(paradex: dict[str, Any]) -> None:
    ex = signer.install(ccxt_pro.paradex(copy.deepcopy(paradex["ep"]["ccxt"])))
    try:
        await ex.load_markets()
        task = asyncio.ensure_future(ex.watch_orders(BTC))
        await asyncio.sleep(0.3)  # let the auth + subscribe go out first
        placed = await ex.create_order(BTC, "market", "buy", 0.001)
        orders = await asyncio.wait_for(task, 5)
        assert orders[-1]["symbol"] == BTC and orders[-1]["id"] == placed["id"]
    finally:
        await ex.close()


async def _req(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def test_f03_malformed_requests_answered_as_paradex(paradex: dict[str, Any]) -> None:
    ep = paradex["ep"]
    rest = ep["rest_url"]
    dialect: ParadexEmulator = paradex["dialect"]
    acct = ep["credentials"]["l2_address"]
    good = dialect.issue_jwt(acct, dialect.sim_public_key)
    expired = dialect.issue_jwt(acct, dialect.sim_public_key, now=int(time.time()) - 1000)
    async with aiohttp.ClientSession() as s:
        st, body = await _req(s, "GET", f"{rest}/positions")
        assert st == 401 and body["error"] == "UNAUTHORIZED_ERROR" and "malformed jwt" in body["message"]
        st, body = await _req(s, "GET", f"{rest}/positions", headers={"Authorization": f"Bearer {expired}"})
        assert st == 401 and "expired" in body["message"]
        st, body = await _req(s, "GET", f"{rest}/positions", headers={"Authorization": f"Bearer {good[:-3]}xyz"})
        assert st == 401
        auth = {"Authorization": f"Bearer {good}", "Content-Type": "application/json"}
        st, body = await _req(s, "POST", f"{rest}/orders", data="{not json", headers=auth)
        assert st == 400 and body == {"error": "BINDING_ERROR", "message": body["message"], "data": None}
        st, body = await _req(s, "POST", f"{rest}/orders", headers=auth, data=json.dumps(
            {"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "1000",
             "signature": '["0x1","0x2"]', "signature_timestamp": int(time.time() * 1000)}))
        assert st == 401 and body["error"] == "INVALID_ORDER_SIGNATURE"
        st, body = await _req(s, "POST", f"{rest}/orders", headers=auth, data=json.dumps({"market": "NOPE-USD-PERP"}))
        assert st == 400 and body["error"] == "MARKET_NOT_FOUND"
        st, body = await _req(s, "GET", f"{rest}/orderbook/NOPE-USD-PERP")
        assert st == 400 and body["error"] == "MARKET_NOT_FOUND"
        st, body = await _req(s, "GET", f"{rest}/markets/summary")
        assert st == 400 and body["error"] == "VALIDATION_ERROR"
        st, body = await _req(s, "DELETE", f"{rest}/orders/123", headers=auth)
        assert st == 404 and body["error"] == "ORDER_ID_NOT_FOUND"
        st, body = await _req(s, "POST", f"{rest}/auth", headers={
            "PARADEX-STARKNET-ACCOUNT": acct, "PARADEX-STARKNET-SIGNATURE": '["0x1","0x2"]',
            "PARADEX-TIMESTAMP": str(int(time.time())), "PARADEX-SIGNATURE-EXPIRATION": str(int(time.time()) + 180)})
        assert st == 401 and body["error"] == "STARKNET_SIGNATURE_VERIFICATION_FAILED"
        st, body = await _req(s, "POST", f"{rest}/auth", headers={"PARADEX-STARKNET-ACCOUNT": "0x123"})
        assert st == 400 and body["error"] == "INVALID_STARKNET_SIGNATURE"
        paradex["venue"].faults.inject("http429")
        st, body = await _req(s, "GET", f"{rest}/markets")
        assert st == 429 and body["error"] == "RATE_LIMIT_EXCEEDED"
        # WebSocket: refused SBE schema at the handshake; JSON-RPC errors for bad requests
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(ep["ws_url"] + "?sbeSchemaId=1&sbeSchemaVersion=9")
        assert err.value.status == 400
        async with s.ws_connect(ep["ws_url"]) as ws:
            await ws.send_str("not json")
            assert (await ws.receive_json(timeout=5))["error"]["code"] == -32700
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "nope"}, "id": 3}))
            msg = await ws.receive_json(timeout=5)
            assert msg["id"] == 3 and msg["error"] == {"code": -32600, "message": "invalid subscribe request", "data": "invalid channel"}
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "positions"}, "id": 4}))
            assert (await ws.receive_json(timeout=5))["error"]["code"] == 40110  # private before auth
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "auth", "params": {"bearer": expired}, "id": 5}))
            assert (await ws.receive_json(timeout=5))["error"]["code"] == 40111
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "unsubscribe", "params": {"channel": "bbo.BTC-USD-PERP"}, "id": 6}))
            assert (await ws.receive_json(timeout=5))["error"]["code"] == -32600  # not subscribed
