"""E06 on Aster: order status and fills from the listenKey user stream (AsterUserStream),
reconciled with REST; duplicated fill frames count once; a dropped socket is recovered by REST;
the user stream stays up while market data is paused (issue 4 part 2). F01: unmodified
ccxt.pro ``watch_positions`` receives the emulator's ``ACCOUNT_UPDATE``; ccxt 4.5.90's
``watch_orders`` / ``watch_my_trades`` always raise ``ArgumentsRequired`` for Aster (protocol doc
§7.4, a transpilation bug), so no ccxt.pro order/fill stream can be exercised here."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.aster import AsterClient
from perpdex.exchanges.aster.userstream import AsterUserStream
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserLiquidation, UserOrderUpdate
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.aster.auth import SIM_ADDRESS

from ...fixtures import load_bytes
from .. import userstream_scenarios as sc
from ..userstream_scenarios import (  # noqa: F401 - the shared E06 tests, run on this exchange, collected here
    test_E06_dropped_socket_recovered_by_rest_reconciliation,
    test_E06_duplicated_fill_frame_counts_once,
    test_E06_fills_and_order_status_match_rest,
    test_E06_liquidation_delivered,
    test_E06_partial_fill_then_cancel,
    test_E06_user_stream_up_while_market_data_paused,
)

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



async def test_listen_key_kept_alive_and_renewed_after_close(env):
    """§6.1: PUT keeps the key; a closed key (``DELETE /fapi/v3/listenKey`` closes its sockets)
    is replaced by a new one on reconnect, and fills flow on the new socket."""
    stream = await sc.started(env)
    await stream.keepalive()
    key = stream.listen_key
    await env.client._priv().client.fapiPrivateDeleteV3ListenKey()
    await sc.eventually(lambda: stream.reconnects >= 1 and stream.listen_key not in (None, key)
                        and stream.stats()["state"] == "connected", "a new listenKey")
    res = await env.client.place_market_order(SYMBOL, Side.BUY, sc.market_qty(env))
    assert res.order_id is not None and await stream.wait_fill(res.order_id, sc.TIMEOUT)


# -- recorded payloads (tests/fixtures/aster; docs/exchanges/aster.md §6.2, §6.3) ---------------------
def _parser() -> AsterUserStream:
    client = AsterClient(ExchangeSettings("aster"))
    client._contracts = {"BTC": ContractAttributes("aster", "BTC", "BTCUSDT", Decimal("0.1"), Decimal("0.001"))}
    return AsterUserStream(None, client.symbol_of, create_listen_key=client.create_listen_key,
                           keep_alive_listen_key=client.keep_alive_listen_key)


def test_decodes_doc_order_update_and_fill():
    s = _parser()
    [new] = s.handle_frame(DOC_ORDER_NEW)
    assert isinstance(new, UserOrderUpdate) and new.order_id == "8886774" and new.status is OrderStatus.OPEN
    assert new.side is Side.SELL and new.client_order_id == "TEST" and new.remaining == Decimal("0.001")
    fill, liq, upd = s.handle_frame(LIQUIDATION_FILL)
    assert isinstance(fill, UserFill) and fill.trade_id == "77" and fill.liquidation and fill.side is Side.SELL
    assert fill.qty == Decimal("0.001") and fill.price == Decimal("7100.5") and fill.fee == Decimal("0.00355")
    assert isinstance(liq, UserLiquidation) and liq.qty == Decimal("0.001") and liq.trade_id == "77"
    assert isinstance(upd, UserOrderUpdate) and upd.status is OrderStatus.PARTIALLY_FILLED
    assert upd.avg_price == Decimal("7100.5") and upd.remaining == Decimal("0.001")


def test_decodes_doc_account_update():
    [pos] = _parser().handle_frame(ACCOUNT_UPDATE)
    assert pos.symbol == "BTC" and pos.quantity == Decimal("-20") and pos.entry_price == Decimal("6563.66500")
    assert pos.unrealized_pnl == Decimal("2850.21200") and pos.liquidation_price is None


DOC_ORDER_NEW = load_bytes("aster", "user_order_new_one_way")
LIQUIDATION_FILL = load_bytes("aster", "user_liquidation_fill")
ACCOUNT_UPDATE = load_bytes("aster", "user_account_update")
