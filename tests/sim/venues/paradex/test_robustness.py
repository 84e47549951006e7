"""Bad input never crashes the emulated Paradex: arbitrary REST bodies and WebSocket text get
Paradex-shaped errors and the session keeps serving (F03)."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from perpdex.exchanges.paradex import schemas


async def test_emulator_answers_garbage_with_paradex_errors(paradex: dict[str, Any]) -> None:
    ep = paradex["ep"]
    dialect = paradex["dialect"]
    jwt = dialect.issue_jwt(ep["credentials"]["l2_address"], dialect.sim_public_key)
    headers = {"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"}
    bodies = ["", "[]", "1", '{"market": 5}', '{"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "abc"}',
              '{"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "NaN", "price": "1"}',
              '{"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "1", "price": "1", "flags": 3}',
              '{"market": "BTC-USD-PERP", "side": "BUY", "type": "STOP_LIMIT", "size": "1"}',
              json.dumps({"market": "BTC-USD-PERP", "side": "BUY", "type": "MARKET", "size": "1", "signature": "[1]",
                          "signature_timestamp": int(time.time() * 1000)})]
    async with aiohttp.ClientSession() as s:
        for body in bodies:
            async with s.post(f"{ep['rest_url']}/orders", data=body, headers=headers) as r:
                data = await r.json()
                assert 400 <= r.status < 500 and set(data) == {"error", "message", "data"}, (body, r.status, data)
        for path in ("/account/margin/BTC-USD-PERP", "/account/margin/NOPE"):
            async with s.post(f"{ep['rest_url']}{path}", data='{"leverage": "ten"}', headers=headers) as r:
                assert r.status == 400 and "error" in await r.json()
        async with s.ws_connect(ep["ws_url"] + "?sbeSchemaId=1&sbeSchemaVersion=3") as ws:
            for text in ("", "[]", "{}", '{"jsonrpc":"2.0"}', '{"jsonrpc":"2.0","method":"order.create","id":1}',
                         '{"jsonrpc":"2.0","method":"subscribe","params":[],"id":2}'):
                await ws.send_str(text)
                msg = await ws.receive_json(timeout=5)
                assert "error" in msg and isinstance(msg["error"]["code"], int)
            await ws.send_bytes(b"\x01\x02")
            assert (await ws.receive_json(timeout=5))["error"]["code"] == -32700
            # still serving: a public channel arrives in SBE on this session
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "bbo.ETH-USD-PERP"}, "id": 9}))
            ack = await ws.receive_json(timeout=5)
            assert ack["result"] == {"channel": "bbo.ETH-USD-PERP"}
            frame = await ws.receive(timeout=5)
            assert frame.type == aiohttp.WSMsgType.BINARY
            assert isinstance(schemas.decode_sbe(frame.data), schemas.SbeBbo)
