"""E06 on Lighter: order status and fills from the account channels (LighterUserStream, auth
token in every private subscribe), reconciled with REST; duplicated fill frames count once; a
dropped socket is recovered by REST; the user stream stays up while market data is paused
(issue 4 part 2). ccxt.pro's ``watch_orders`` / ``watch_my_trades`` against these channels are
covered by ``tests/sim/venues/lighter/test_ccxt_emulator.py::test_f01_ccxt_pro_streams_and_ws_orders``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.lighter import LighterClient
from perpdex.exchanges.lighter.signer import SIM_ACCOUNT_INDEX, SIM_API_PRIVATE_KEY
from perpdex.exchanges.lighter.userstream import LighterUserStream
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserOrderUpdate, UserPositionUpdate
from perpdex.sim.server import start_emulators

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




# -- recorded payloads (tests/fixtures/lighter; docs/exchanges/lighter.md §5.8, §6) ---------------------
def _parser(account: int) -> LighterUserStream:
    client = LighterClient(ExchangeSettings("lighter", credentials={
        "account_index": account, "api_key_index": 4, "api_private_key": SIM_API_PRIVATE_KEY}))
    client._contracts = {"ETH": ContractAttributes("lighter", "ETH", "0", Decimal("0.01"), Decimal("0.0001")),
                         "X13": ContractAttributes("lighter", "X13", "13", Decimal("0.01"), Decimal("0.0001"))}
    return LighterUserStream(client.ws_url, client.symbol_of, account=lambda: account, auth_token=client.auth_token)


def test_decodes_recorded_trade_order_and_position():
    [fill] = _parser(243008).handle_frame(TRADES)
    assert isinstance(fill, UserFill) and fill.symbol == "X13" and fill.trade_id == "526801155"
    assert fill.side is Side.BUY and fill.order_id == "562949291740362" and fill.client_order_id == "27601"
    assert fill.liquidity == "maker" and fill.fee == Decimal("104.798210") * 20 / 1_000_000 and fill.ts == 1763623734.215
    assert _parser(99349).handle_frame(TRADES)[0].side is Side.SELL
    assert _parser(1).handle_frame(TRADES) == []  # not our trade
    s = _parser(1077)
    [order] = s.handle_frame(ORDERS)
    assert isinstance(order, UserOrderUpdate) and order.order_id == "281474977354074" and order.side is Side.SELL
    assert order.status is OrderStatus.CANCELED and order.reason == "canceled-margin-not-allowed" and order.filled == 0
    [pos] = s.handle_frame(POSITIONS)
    assert isinstance(pos, UserPositionUpdate) and pos.symbol == "ETH" and pos.quantity == Decimal("-18.0193")
    assert pos.entry_price == Decimal("2669.84") and pos.liquidation_price == Decimal("2191.1107231380406")
    assert s.handle_frame(b'{"type": "ping"}') == [] and s.outbox == [{"type": "pong"}]


TRADES = load_bytes("lighter", "ws_account_all_trades")
ORDERS = load_bytes("lighter", "ws_account_all_orders")
POSITIONS = load_bytes("lighter", "ws_account_all_positions")
