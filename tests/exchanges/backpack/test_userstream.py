"""E06 on Backpack: order status and fills from ``account.orderUpdate`` / ``account.positionUpdate``
(BackpackUserStream, ED25519-signed SUBSCRIBE), reconciled with REST; duplicated fill frames
count once; a dropped socket is recovered by REST; the user stream stays up while market data
is paused (issue 4 part 2). ccxt.pro's ``watch_orders`` / ``watch_positions`` against these
streams are covered by ``tests/sim/venues/backpack/test_ccxt_emulator.py``; ccxt 4.5.90 has no
``watch_my_trades`` for Backpack (protocol doc §7.2: fills come inside ``watch_orders``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.exchanges.backpack import BackpackClient
from perpdex.exchanges.backpack.userstream import BackpackUserStream
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserOrderUpdate, UserPositionUpdate
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.backpack import BackpackEmulator

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


# -- recorded payloads (tests/fixtures/backpack; docs/exchanges/backpack.md §6.2, §6.3) ----------------
def _parser() -> BackpackUserStream:
    client = BackpackClient(ExchangeSettings("backpack"))
    client._contracts = {"ETH": ContractAttributes("backpack", "ETH", "ETH_USDC", Decimal("0.01"), Decimal("0.0001")),
                         "SOL": ContractAttributes("backpack", "SOL", "SOL_USDC", Decimal("0.01"), Decimal("0.01")),
                         "ETHP": ContractAttributes("backpack", "ETH", "ETH_USDC_PERP", Decimal("0.01"), Decimal("0.0001"))}
    return BackpackUserStream(client.ws_url, client.symbol_of, signature=client.subscribe_signature)


def _wrap(stream: str, data: bytes) -> bytes:
    return b'{"stream":"' + stream.encode() + b'","data":' + data + b"}"


def test_decodes_recorded_fill_accepted_and_position():
    s = _parser()
    fill, upd = s.handle_frame(_wrap("account.orderUpdate.ETH_USDC", FILL))
    assert isinstance(fill, UserFill) and fill.trade_id == "2888471" and fill.order_id == "5406825793"
    assert fill.side is Side.BUY and fill.qty == Decimal("0.0010") and fill.price == Decimal("4299.16")
    assert fill.fee == Decimal("0.000001") * Decimal("4299.16") and fill.liquidity == "taker"  # fee paid in ETH
    assert fill.ts == 1754939110.174705 and not fill.liquidation
    assert isinstance(upd, UserOrderUpdate) and upd.status is OrderStatus.FILLED and upd.avg_price == Decimal("4299.16")
    [acc] = s.handle_frame(_wrap("account.orderUpdate", ACCEPTED))
    assert acc.status is OrderStatus.OPEN and acc.remaining == Decimal("20.03") and acc.side is Side.SELL
    [pos] = s.handle_frame(_wrap("account.positionUpdate", POSITION))
    assert isinstance(pos, UserPositionUpdate) and pos.symbol == "ETH" and pos.quantity == Decimal("0.0010")
    assert pos.entry_price == Decimal("4236.36") and pos.liquidation_price is None  # "0" = not provided


def test_error_frame_raises():
    with pytest.raises(ValueError):
        _parser().handle_frame(b'{"id": null, "error": {"code": 4006, "message": "Invalid stream"}}')


FILL = load_bytes("backpack", "ws_order_fill")
ACCEPTED = load_bytes("backpack", "ws_order_accepted")
POSITION = load_bytes("backpack", "ws_position_opened")
