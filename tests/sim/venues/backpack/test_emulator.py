"""F03: the emulated Backpack answers malformed requests as Backpack does (``{"code", "message"}``
with 400/401/404/429, plain-text parse errors), verifies ED25519 signatures and timestamps, and
rejects bad WebSocket requests with ``{"id": null, "error": {...}}`` frames; F04 faults."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perpdex.sim.venues.backpack.auth import SIM_API_KEY, SIM_SECRET, signing_strings

KEY = Ed25519PrivateKey.from_private_bytes(base64.b64decode(SIM_SECRET))


def signed_headers(instruction: str, params: dict[str, Any], *, ts: int | None = None, window: str = "5000",
                   key: Ed25519PrivateKey = KEY, api_key: str = SIM_API_KEY) -> dict[str, str]:
    ts_s = str(ts if ts is not None else int(time.time() * 1000))
    msg = signing_strings(instruction, params, ts_s, window)[0]
    return {"X-API-Key": api_key, "X-Signature": base64.b64encode(key.sign(msg.encode())).decode(),
            "X-Timestamp": ts_s, "X-Window": window, "Content-Type": "application/json"}


async def _call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def test_f03_auth_failures(bp: dict[str, Any]) -> None:
    url = bp["ep"]["rest_url"] + "/api/v1/capital/collateral"
    async with aiohttp.ClientSession() as s:
        assert (await _call(s, "GET", url, headers=signed_headers("collateralQuery", {})))[0] == 200
        status, body = await _call(s, "GET", url)
        assert (status, body["code"]) == (401, "UNAUTHORIZED")
        h = signed_headers("balanceQuery", {})  # signed for another instruction
        status, body = await _call(s, "GET", url, headers=h)
        assert (status, body) == (401, {"code": "INVALID_SIGNATURE", "message": "Invalid signature"})
        other = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
        status, body = await _call(s, "GET", url, headers=signed_headers("collateralQuery", {}, key=other))
        assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
        h = signed_headers("collateralQuery", {}) | {"X-Signature": "not base64!"}
        assert (await _call(s, "GET", url, headers=h))[1]["code"] == "INVALID_SIGNATURE"
        stale = signed_headers("collateralQuery", {}, ts=int(time.time() * 1000) - 60_000)
        status, body = await _call(s, "GET", url, headers=stale)
        assert (status, body["code"]) == (400, "INVALID_CLIENT_REQUEST") and "expired" in body["message"]
        wide = signed_headers("collateralQuery", {}, window="60001")
        assert (await _call(s, "GET", url, headers=wide))[1]["code"] == "INVALID_CLIENT_REQUEST"
        # the body is what is signed: a tampered body fails verification
        order = {"symbol": "BTC_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.001"}
        h = signed_headers("orderExecute", order)
        status, body = await _call(s, "POST", bp["ep"]["rest_url"] + "/api/v1/order", headers=h,
                                   data=json.dumps(order | {"quantity": "0.002"}))
        assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
        assert bp["venue"].account(SIM_API_KEY).orders == {}


async def test_f03_malformed_order_payloads(bp: dict[str, Any]) -> None:
    url = bp["ep"]["rest_url"] + "/api/v1/order"
    base = {"symbol": "BTC_USDC_PERP", "side": "Bid", "orderType": "Limit", "quantity": "0.01", "price": "1000"}

    async def post(payload: dict[str, Any]) -> tuple[int, Any]:
        return await _call(s, "POST", url, headers=signed_headers("orderExecute", payload), data=json.dumps(payload))

    async with aiohttp.ClientSession() as s:
        status, body = await post(base | {"symbol": "NOPE_USDC_PERP"})
        assert status == 400 and isinstance(body, str) and 'failed to parse "MarketSymbol"' in body
        status, body = await post(base | {"side": "Buy"})
        assert status == 400 and 'failed to parse "Side"' in body
        status, body = await post(base | {"clientId": "abc"})
        assert status == 400 and "u32" in body
        status, body = await post(base | {"clientId": 2**32})
        assert status == 400 and "u32" in body
        status, body = await post(base | {"price": "1000.05"})
        assert (status, body) == (400, {"code": "INVALID_PRICE", "message": "Price decimal too long"})
        status, body = await post(base | {"quantity": "0.000001"})
        assert (status, body["code"]) == (400, "INVALID_QUANTITY")
        status, body = await post({k: v for k, v in base.items() if k != "price"})
        assert (status, body["code"]) == (400, "INVALID_CLIENT_REQUEST")
        status, body = await post(base | {"quantity": "1000"})  # 1M USD at 5x: 200 000 of margin
        assert (status, body["code"]) == (400, "INSUFFICIENT_MARGIN")
        status, body = await post(base | {"side": "Ask", "orderType": "Market", "reduceOnly": True})
        assert (status, body["code"]) == (400, "INVALID_ORDER")
        h = signed_headers("orderExecute", {})
        status, body = await _call(s, "POST", url, headers=h, data="{not json")
        assert status == 400 and "failed to parse" in body
        cancel = {"symbol": "BTC_USDC_PERP", "orderId": "123"}
        status, body = await _call(s, "DELETE", url, headers=signed_headers("orderCancel", cancel), data=json.dumps(cancel))
        assert (status, body) == (404, {"code": "RESOURCE_NOT_FOUND", "message": "Order not found"})
        both = cancel | {"clientId": 5}
        status, body = await _call(s, "DELETE", url, headers=signed_headers("orderCancel", both), data=json.dumps(both))
        assert (status, body["code"]) == (400, "INVALID_CLIENT_REQUEST")
        status, body = await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/depth", params={"symbol": "BTC_USDC_PERP", "limit": "7"})
        assert status == 400 and "DepthLimit" in body
        status, body = await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/ticker")
        assert status == 400 and "MarketSymbol" in body
        assert (await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/time"))[1] > 1_700_000_000_000  # plain text ms
        assert (await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/ping"))[1] == "pong"


async def test_f04_rest_faults_429_delay_and_reject(bp: dict[str, Any]) -> None:
    venue = bp["venue"]
    async with aiohttp.ClientSession() as s:
        venue.faults.inject("http429")
        status, body = await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/markets")
        assert (status, body["code"]) == (429, "TOO_MANY_REQUESTS")
        assert (await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/markets"))[0] == 200
        venue.faults.inject("delay")
        assert (await _call(s, "GET", bp["ep"]["rest_url"] + "/api/v1/status"))[1] == {"status": "Ok", "message": None}
        assert venue.faults.pending("delay") == 0  # consumed by that (delayed) answer
        venue.faults.inject("reject")
        order = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01"}
        status, body = await _call(s, "POST", bp["ep"]["rest_url"] + "/api/v1/order",
                                   headers=signed_headers("orderExecute", order), data=json.dumps(order))
        assert (status, body) == (400, {"code": "INVALID_ORDER", "message": "Order rejected"})


async def test_f03_websocket_bad_requests_get_error_frames(bp: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(bp["ep"]["ws_url"]) as ws:
        async def answer(frame: str) -> dict[str, Any]:
            await ws.send_str(frame)
            return json.loads((await ws.receive(timeout=5)).data)

        assert (await answer("{nope"))["error"]["code"] == 4000
        assert (await answer('{"method": "LIST"}'))["error"] == {"code": 4001, "message": "Invalid method"}
        assert (await answer('{"method": "SUBSCRIBE", "params": "depth.BTC_USDC_PERP"}'))["error"]["code"] == 4002
        assert (await answer('{"method": "SUBSCRIBE", "params": ["depth.NOPE_USDC_PERP"]}')) == \
            {"id": None, "error": {"code": 4006, "message": "Invalid stream"}}
        unsigned = await answer('{"method": "SUBSCRIBE", "params": ["account.orderUpdate"]}')
        assert unsigned["error"]["message"] == "Invalid signature"
        ts = str(int(time.time() * 1000))
        sig = base64.b64encode(Ed25519PrivateKey.generate().sign(f"instruction=subscribe&timestamp={ts}&window=5000".encode()))
        forged = await answer(json.dumps({"method": "SUBSCRIBE", "params": ["account.orderUpdate"],
                                          "signature": [SIM_API_KEY, sig.decode(), ts, "5000"]}))
        assert forged["error"]["message"] == "Invalid signature"
        # a valid public subscription still works on the same socket (no ack; data frames follow)
        first = await answer('{"method": "SUBSCRIBE", "params": ["bookTicker.BTC_USDC_PERP"]}')
        assert first["stream"] == "bookTicker.BTC_USDC_PERP" and first["data"]["e"] == "bookTicker"
        assert isinstance(first["data"]["E"], int) and first["data"]["E"] > 10**15  # microseconds
        assert bp["dialect"].subscriptions() == [["bookTicker.BTC_USDC_PERP"]]


@pytest.mark.parametrize("stream", ["markPrice.BTC_USDC_PERP", "ticker.BTC_USDC_PERP", "openInterest.BTC_USDC_PERP"])
async def test_periodic_streams(bp: dict[str, Any], stream: str) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(bp["ep"]["ws_url"]) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [stream]}))
        frame = json.loads((await ws.receive(timeout=5)).data)
        assert frame["stream"] == stream and frame["data"]["s"] == "BTC_USDC_PERP"
        if stream.startswith("markPrice"):
            venue = bp["venue"]
            assert float(frame["data"]["f"]) == pytest.approx(venue.funding_rate("BTC"))
            assert frame["data"]["n"] == venue.next_funding_ms("BTC")  # milliseconds


async def test_private_streams_signed_subscribe_snapshot_and_updates(bp: dict[str, Any]) -> None:
    venue = bp["venue"]
    venue.place_order(SIM_API_KEY, "SOL", "sell", 2.0, order_type="market")
    ts = str(int(time.time() * 1000))
    sig = base64.b64encode(KEY.sign(f"instruction=subscribe&timestamp={ts}&window=5000".encode())).decode()
    async with aiohttp.ClientSession() as s, s.ws_connect(bp["ep"]["ws_url"]) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["account.positionUpdate", "account.orderUpdate"],
                                      "signature": [SIM_API_KEY, sig, ts, "5000"]}))
        snap = json.loads((await ws.receive(timeout=5)).data)
        assert snap["stream"] == "account.positionUpdate" and "e" not in snap["data"]  # the snapshot (§6.3)
        assert snap["data"]["s"] == "SOL_USDC_PERP" and snap["data"]["q"] == "-2.00"  # signed net quantity
        venue.place_order(SIM_API_KEY, "SOL", "buy", 2.0, order_type="market", reduce_only=True)
        events = []
        while "positionClosed" not in events:
            frame = json.loads((await ws.receive(timeout=5)).data)
            events.append(frame["data"]["e"])
            if frame["data"]["e"] == "orderFill":
                assert frame["data"]["o"] == "MARKET" and frame["data"]["S"] == "Bid" and frame["data"]["r"] is True
                assert frame["data"]["E"] > 10**15  # microseconds
        assert events[0] == "orderFill"
