"""E06 on Paradex: order status and fills from the private JSON-RPC channels (ParadexUserStream,
``auth`` with the JWT), reconciled with REST; duplicated fill frames count once; a dropped
socket is recovered by REST; the user stream stays up while market data is paused (issue 4
part 2). F01: unmodified ccxt.pro ``watch_my_trades`` and ``watch_positions`` receive the
emulator's private events (``watch_orders``: ``test_ccxt_emulator.py``)."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal

import ccxt.pro as ccxt_pro
import pytest

from perpdex.exchanges.paradex import ParadexClient, ParadexEmulator, signer
from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.paradex.emulator import SIM_ACCOUNT
from perpdex.exchanges.paradex.userstream import ParadexUserStream
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserOrderUpdate, UserPositionUpdate
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



# -- recorded payloads (shared/protocols/paradex.md §6: [C] frames from ccxt 4.5.90) ------------------
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


ORDER = (b'{"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "orders.ALL", "data": {'
         b'"account": "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7512x", "avg_fill_price": "26000",'
         b' "client_id": "x1234", "cancel_reason": "", "created_at": 1681493746016, "flags": ["REDUCE_ONLY"],'
         b' "id": "123456", "instruction": "GTC", "last_updated_at": 1681493746016, "market": "BTC-USD-PERP",'
         b' "price": "26000", "remaining_size": "0", "side": "BUY", "size": "0.05", "status": "NEW", "type": "LIMIT"}}}')
FILL = (b'{"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "fills.ALL", "data": {'
        b'"id": "1718947571560201703986670001", "side": "BUY", "liquidity": "TAKER", "market": "BTC-USD-PERP",'
        b' "order_id": "1718947571540201703992340000", "price": "64852.9", "size": "0.01", "fee": "0.1945587",'
        b' "fee_currency": "USDC", "created_at": 1718947571569, "remaining_size": "0", "client_id": "",'
        b' "fill_type": "FILL"}}}')
POSITION = (b'{"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "positions", "data": {'
            b'"id": "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3-BTC-USD-PERP",'
            b' "market": "BTC-USD-PERP", "status": "OPEN", "side": "LONG", "size": "0.01",'
            b' "average_entry_price": "64839.96053748", "unrealized_pnl": "-2.39677214", "leverage": "5",'
            b' "cost_usd": "648.529", "created_at": 1718947571560, "last_updated_at": 1718950074249,'
            b' "liquidation_price": ""}}}')
