"""E06 on Aster: order status and fills from the listenKey user stream (AsterUserStream),
reconciled with REST; duplicated fill frames count once; a dropped socket is recovered by REST;
the user stream stays up while market data is paused (issue 4 part 2). F01: ccxt.pro's
``watch_positions`` against the emulator's user stream."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.aster import AsterClient
from perpdex.exchanges.aster.emulator import SIM_ADDRESS
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import Side
from perpdex.sim.server import start_emulators

from .. import userstream_scenarios as sc

SYMBOL = "ETH"


@pytest.fixture
async def env():
    cluster = await start_emulators(["aster"], run_market=False)
    ep = cluster.endpoints["aster"]
    client = AsterClient(ExchangeSettings("aster", rest_url=ep["rest_url"], ws_url=ep["ws_url"],
                                          options={"ccxt": ep["ccxt"]}))
    try:
        await client.connect()

        async def rest_trades():
            ex = client._priv().client
            return await ex.fetch_my_trades(client._to_ccxt(SYMBOL))

        yield sc.Env(client, cluster.sim, cluster.sim.venue("aster"), SIM_ADDRESS, SYMBOL, rest_trades)
    finally:
        await client.close()
        await cluster.stop()


async def test_E06_fills_and_order_status_match_rest(env):
    await sc.fills_and_order_status_match_rest(env)


async def test_E06_partial_fill_then_cancel(env):
    await sc.partial_fill_then_cancel(env)


async def test_E06_duplicated_fill_frame_counts_once(env):
    await sc.duplicated_frame_counts_once(env)


async def test_E06_dropped_socket_recovered_by_rest_reconciliation(env):
    await sc.dropped_socket_recovered_by_rest(env)


async def test_E06_user_stream_up_while_market_data_paused(env):
    await sc.user_stream_up_while_market_data_paused(env)
