"""E06 on Aster: order status and fills from the listenKey user stream (AsterUserStream),
reconciled with REST; duplicated fill frames count once; a dropped socket is recovered by REST;
the user stream stays up while market data is paused (issue 4 part 2). F01: unmodified
ccxt.pro ``watch_positions`` receives the emulator's ``ACCOUNT_UPDATE``; ccxt 4.5.90's
``watch_orders`` / ``watch_my_trades`` always raise ``ArgumentsRequired`` for Aster (protocol doc
§7.4, a transpilation bug), so no ccxt.pro order/fill stream can be exercised here."""

from __future__ import annotations

import asyncio
import copy

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.aster import AsterClient
from perpdex.exchanges.aster.emulator import SIM_ADDRESS
from perpdex.exchanges.base import ExchangeSettings
from perpdex.sim.server import start_emulators

from .. import userstream_scenarios as sc
from ..userstream_scenarios import *  # noqa: F401,F403 - the shared E06 tests, run on this exchange

SYMBOL = "ETH"


@pytest.fixture
async def cluster():
    c = await start_emulators(["aster"], run_market=False)
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
async def env(cluster):
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


async def test_f01_ccxt_pro_watch_positions_listen_key_and_snapshot(cluster):
    """ccxt.pro ``watch_positions`` gets a listenKey (signed ``POST /fapi/v3/listenKey``), opens
    ``<private>/<listenKey>`` and serves the REST snapshot. Its handling of the pushed
    ``ACCOUNT_UPDATE`` cannot be exercised: ccxt 4.5.90 updates the balance cache first and raises
    ``KeyError('swap')`` unless ``watch_balance`` set it up, and ``watch_balance`` itself always
    raises ``ArgumentsRequired`` (the §7.4 defect)."""
    ex = ccxt_pro.aster(copy.deepcopy(cluster.endpoints["aster"]["ccxt"]))
    try:
        await ex.load_markets()
        unified = "ETH/USDT:USDT"
        await ex.create_order(unified, "market", "buy", 0.05)
        got = await asyncio.wait_for(ex.watch_positions([unified]), 5)
        assert got[-1]["symbol"] == unified and got[-1]["contracts"] == pytest.approx(0.05) and got[-1]["side"] == "long"
        dialect = cluster.dialects["aster"]
        assert list(dialect._listen_keys.values()) == [SIM_ADDRESS]
    finally:
        await ex.close()

