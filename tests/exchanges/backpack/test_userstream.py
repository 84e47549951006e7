"""E06 on Backpack: order status and fills from ``account.orderUpdate`` / ``account.positionUpdate``
(BackpackUserStream, ED25519-signed SUBSCRIBE), reconciled with REST; duplicated fill frames
count once; a dropped socket is recovered by REST; the user stream stays up while market data
is paused (issue 4 part 2). ccxt.pro's ``watch_orders`` / ``watch_positions`` against these
streams are covered by ``test_ccxt_emulator.py``; ccxt 4.5.90 has no ``watch_my_trades`` for
Backpack (protocol doc §7.2: fills come inside ``watch_orders``)."""

from __future__ import annotations

import pytest

from perpdex.exchanges.backpack import BackpackClient, BackpackEmulator
from perpdex.sim.server import start_emulators

from .. import userstream_scenarios as sc
from ..userstream_scenarios import *  # noqa: F401,F403 - the shared E06 tests, run on this exchange
from .conftest import settings

SYMBOL = "ETH"


@pytest.fixture
async def env():
    cluster = await start_emulators(["backpack"], dialects={"backpack": BackpackEmulator}, run_market=False)
    ep = cluster.endpoints["backpack"]
    client = BackpackClient(settings(ep))
    try:
        await client.connect()

        async def rest_trades():
            ex = client.private.client
            return await ex.fetch_my_trades(client.symbols.ccxt_symbol(SYMBOL), None, 100)

        yield sc.Env(client, cluster.sim, cluster.sim.venue("backpack"), ep["credentials"]["api_key"], SYMBOL, rest_trades)
    finally:
        await client.close()
        await cluster.stop()


async def test_user_stream_metrics(env):
    await sc.metrics_report_user_stream(env)
