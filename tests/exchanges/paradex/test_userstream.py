"""E06 on Paradex: order status and fills from the private JSON-RPC channels (ParadexUserStream,
``auth`` with the JWT), reconciled with REST; duplicated fill frames count once; a dropped
socket is recovered by REST; the user stream stays up while market data is paused (issue 4
part 2). F01: unmodified ccxt.pro ``watch_my_trades`` and ``watch_positions`` receive the
emulator's private events (``watch_orders``: ``test_ccxt_emulator.py``)."""

from __future__ import annotations

import asyncio
import copy

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.paradex import ParadexClient, ParadexEmulator, signer
from perpdex.exchanges.paradex.emulator import SIM_ACCOUNT
from perpdex.sim.server import start_emulators

from .. import userstream_scenarios as sc
from ..userstream_scenarios import *  # noqa: F401,F403 - the shared E06 tests, run on this exchange
from .conftest import settings

SYMBOL = "ETH"
UNIFIED = "ETH/USD:USDC"


@pytest.fixture
async def cluster():
    c = await start_emulators(["paradex"], dialects={"paradex": ParadexEmulator}, run_market=False)
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
async def env(cluster):
    client = ParadexClient(settings(cluster.endpoints["paradex"]))
    try:
        await client.connect()

        async def rest_trades():
            return await client.private.client.fetch_my_trades(UNIFIED, None, 100)

        yield sc.Env(client, cluster.sim, cluster.sim.venue("paradex"), SIM_ACCOUNT.lower(), SYMBOL, rest_trades)
    finally:
        await client.close()


async def test_f01_ccxt_pro_watch_my_trades_and_positions(cluster):
    ex = signer.install(ccxt_pro.paradex(copy.deepcopy(cluster.endpoints["paradex"]["ccxt"])))
    try:
        await ex.load_markets()
        trades = asyncio.ensure_future(ex.watch_my_trades(UNIFIED))  # auth, then fills.ETH-USD-PERP
        positions = asyncio.ensure_future(ex.watch_positions([UNIFIED]))  # positions
        await asyncio.sleep(0.3)  # let the auth + subscribes go out first
        placed = await ex.create_order(UNIFIED, "market", "buy", 0.01)
        got = await asyncio.wait_for(trades, 5)
        rest = await ex.fetch_my_trades(UNIFIED)
        assert got[-1]["order"] == placed["id"] and got[-1]["side"] == "buy"
        assert {t["id"] for t in got} <= {t["id"] for t in rest}
        pos = await asyncio.wait_for(positions, 5)
        assert pos[-1]["symbol"] == UNIFIED and pos[-1]["contracts"] == pytest.approx(0.01)
    finally:
        await ex.close()

