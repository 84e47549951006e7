"""Bad input never crashes: SBE/JSON decoders and the feed on arbitrary bytes (D11), the emulator
on arbitrary WebSocket text and REST bodies (F03)."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from perpdex.exchanges.paradex import ParadexMarketFeed, schemas
from perpdex.sim.venues.paradex import sbe


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_sbe_decoder_raises_only_sbe_error(data: bytes) -> None:
    try:
        schemas.decode_sbe(data)
    except schemas.SbeError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=40))
def test_truncated_or_corrupted_book_frames_are_sbe_errors(cut: int, noise: bytes) -> None:
    frame = sbe.encode_book("ETH-USD-PERP", 7, 1, 1, [(3900.01, 1.5), (3900.0, 2.0)], [(3900.02, 0.5)])
    for bad in (frame[:cut] if cut < len(frame) else frame[:-1], frame[:20] + noise):
        try:
            schemas.decode_sbe(bad)
        except schemas.SbeError:
            pass


async def test_feed_survives_arbitrary_frames() -> None:
    feed = ParadexMarketFeed("ws://127.0.0.1:1/v1")
    feed.catalog.add("ETH-USD-PERP")
    feed.state("ETH")
    samples = [b"", b"{", b"[]", b"null", b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.ETH-USD-PERP.deltas","data":{"market":"ETH-USD-PERP"}}}',
               b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.ETH-USD-PERP","data":{"market":"ETH-USD-PERP","bid":"x"}}}',
               b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.ETH-USD-PERP.deltas","data":{"market":"ETH-USD-PERP","seq_no":1,"inserts":[{"side":"UP","price":"1","size":"1"}]}}}',
               b"\x00\x01\x02", bytes(range(256))]
    errors = 0
    try:
        for s in samples:
            try:
                feed.handle_frame(s)
            except Exception:  # noqa: BLE001 - what the base class logs and drops
                errors += 1
        assert errors == len(samples)
        assert not feed.is_ready("ETH")
    finally:
        await feed.close()


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
