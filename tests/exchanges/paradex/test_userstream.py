"""E06 on Paradex: order status and fills from the private JSON-RPC channels (ParadexUserStream,
``auth`` with the JWT), reconciled with REST; duplicated fill frames count once; a dropped
socket is recovered by REST; the user stream stays up while market data is paused (issue 4
part 2). F01: unmodified ccxt.pro ``watch_my_trades`` and ``watch_positions`` receive the
emulator's private events (``watch_orders``: ``tests/sim/venues/paradex/test_ccxt_emulator.py``)."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.paradex import ParadexClient, signer
from perpdex.exchanges.paradex.userstream import ParadexUserStream
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserOrderUpdate, UserPositionUpdate
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.paradex import ParadexEmulator
from perpdex.sim.venues.paradex.auth import SIM_ACCOUNT

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



# -- recorded payloads (tests/fixtures/paradex; docs/exchanges/paradex.md §6) -------------------------
def _parser() -> ParadexUserStream:
    client = ParadexClient(ExchangeSettings("paradex"))
    client._contracts = {"BTC": ContractAttributes("paradex", "BTC", "BTC-USD-PERP", Decimal("0.1"), Decimal("0.001"))}
    return ParadexUserStream(client.ws_url, client.symbol_of, auth_token=client.auth_token)


def test_decodes_recorded_order_fill_position():
    s = _parser()
    [order] = s.handle_frame(ORDER)
    assert isinstance(order, UserOrderUpdate) and order.order_id == "123456" and order.client_order_id == "x1234"
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled == Decimal("0.05") and order.remaining == 0
    [fill] = s.handle_frame(FILL)
    assert isinstance(fill, UserFill) and fill.trade_id == "1718947571560201703986670001"
    assert fill.order_id == "1718947571540201703992340000" and fill.side is Side.BUY and fill.liquidity == "taker"
    assert fill.qty == Decimal("0.01") and fill.price == Decimal("64852.9") and fill.fee == Decimal("0.1945587")
    assert not fill.liquidation and fill.ts == 1718947571.569
    [pos] = s.handle_frame(POSITION)
    assert isinstance(pos, UserPositionUpdate) and pos.quantity == Decimal("0.01") and pos.liquidation_price is None
    assert s.handle_frame(b'{"jsonrpc": "2.0", "result": {"channel": "fills.ALL"}, "usIn": 1, "usDiff": 2, "id": 3}') == []
    with pytest.raises(ValueError):
        s.handle_frame(b'{"jsonrpc": "2.0", "id": 0, "error": {"code": -32600, "message": "invalid subscribe request",'
                       b' "data": "invalid channel"}}')


ORDER = load_bytes("paradex", "ws_orders")
FILL = load_bytes("paradex", "ws_fills")
POSITION = load_bytes("paradex", "ws_positions")
