"""E06 on Lighter: order status and fills from the account channels (LighterUserStream, auth
token in every private subscribe), reconciled with REST; duplicated fill frames count once; a
dropped socket is recovered by REST; the user stream stays up while market data is paused
(issue 4 part 2). ccxt.pro's ``watch_orders`` / ``watch_my_trades`` against these channels are
covered by ``test_ccxt_emulator.py::test_f01_ccxt_pro_streams_and_ws_orders``."""

from __future__ import annotations

from typing import Any

import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.lighter import LighterClient
from perpdex.exchanges.lighter.signer import SIM_ACCOUNT_INDEX
from perpdex.sim.server import start_emulators

from .. import userstream_scenarios as sc
from ..userstream_scenarios import *  # noqa: F401,F403 - the shared E06 tests, run on this exchange

SYMBOL = "ETH"


def _own(trade: dict[str, Any]) -> dict[str, Any]:
    """ccxt's trade with ``order`` set: ccxt 4.5.90 fills it only when the row carries
    ``account_index``; our order is the side whose account id is ours (protocol doc §6)."""
    info = trade["info"]
    mine_bid = int(info["bid_account_id"]) == SIM_ACCOUNT_INDEX
    return {**trade, "order": str(info["bid_id"] if mine_bid else info["ask_id"])}


@pytest.fixture
async def env():
    cluster = await start_emulators(["lighter"], run_market=False)
    ep = cluster.endpoints["lighter"]
    client = LighterClient(ExchangeSettings("lighter", ep["rest_url"], ep["ws_url"], credentials=dict(ep["credentials"]),
                                            options={"ccxt": {"rateLimit": 10}}))
    try:
        await client.connect()

        async def rest_trades():
            ex = client.private.client
            return [_own(t) for t in await ex.fetch_my_trades(client.symbols.ccxt_symbol(SYMBOL), None, 100)]

        yield sc.Env(client, cluster.sim, cluster.sim.venue("lighter"), str(SIM_ACCOUNT_INDEX), SYMBOL, rest_trades)
    finally:
        await client.close()
        await cluster.stop()


