"""The emulator's user-data stream: listenKey over signed V3 REST (through ccxt), then raw
``ORDER_TRADE_UPDATE`` / ``ACCOUNT_UPDATE`` (ORDER and FUNDING_FEE) frames on
``<ws_url>/ws/<listenKey>``, decoded with the Aster schemas."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt_async

from perpdex.exchanges.aster.schemas import AccountUpdate, OrderTradeUpdate, UserEvent, decode


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: type, pred=lambda ev: True, timeout: float = 8.0):
    async def read():
        async for msg in ws:
            ev = decode(UserEvent, msg.data)
            if isinstance(ev, kind) and pred(ev):
                return ev
        raise AssertionError("user stream closed")
    return await asyncio.wait_for(read(), timeout)


async def test_user_stream_orders_fills_and_funding(emulators):
    ep = emulators.endpoints["aster"]
    ex = ccxt_async.aster(ep["ccxt"])
    try:
        key = (await ex.fapiPrivatePostV3ListenKey())["listenKey"]
        assert (await ex.fapiPrivatePostV3ListenKey())["listenKey"] == key  # same key while active
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{ep['ws_url']}/ws/{key}") as ws:
            await ex.load_markets()
            order = await ex.create_order("XRP/USDT:USDT", "market", "buy", 100)
            fill = await _next(ws, OrderTradeUpdate, lambda e: e.o.x == "TRADE")
            assert fill.o.i == int(order["id"]) and fill.o.s == "XRPUSDT" and fill.o.S == "BUY"
            assert fill.o.l > 0 and fill.o.N == "USDT" and fill.o.n > 0
            upd = await _next(ws, AccountUpdate, lambda e: e.a.m == "ORDER")
            assert upd.a.P[0].s == "XRPUSDT" and upd.a.P[0].pa == Decimal("100.0")
            # XRP funds hourly, compressed to every 5 s here: a positive rate makes the long pay
            funding = await _next(ws, AccountUpdate, lambda e: e.a.m == "FUNDING_FEE")
            assert funding.a.B[0].a == "USDT" and funding.a.B[0].bc < 0 and funding.a.P == []
    finally:
        await ex.close()
