"""E06 on Backpack: order status and fills from ``account.orderUpdate`` / ``account.positionUpdate``
(BackpackUserStream, ED25519-signed SUBSCRIBE), reconciled with REST; duplicated fill frames
count once; a dropped socket is recovered by REST; the user stream stays up while market data
is paused (issue 4 part 2). ccxt.pro's ``watch_orders`` / ``watch_positions`` against these
streams are covered by ``test_ccxt_emulator.py``; ccxt 4.5.90 has no ``watch_my_trades`` for
Backpack (protocol doc §7.2: fills come inside ``watch_orders``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.exchanges.backpack import BackpackClient, BackpackEmulator
from perpdex.exchanges.backpack.userstream import BackpackUserStream
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import ContractAttributes, OrderStatus, Side, UserFill, UserOrderUpdate, UserPositionUpdate
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


# -- recorded payloads (shared/protocols/backpack.md §6.2, §6.3: [CCXT-COMMENT] / [SDK-FIXTURE] frames) ---
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


FILL = (b'{"E":"1754939110175879","L":"4299.16","N":"ETH","O":"USER","Q":"4.30","S":"Bid","T":"1754939110174705",'
        b'"V":"RejectTaker","X":"Filled","Z":"4.299160","e":"orderFill","f":"GTC","i":"5406825793","l":"0.0010",'
        b'"m":false,"n":"0.000001","o":"MARKET","q":"0.0010","r":false,"s":"ETH_USDC","t":2888471,"z":"0.0010"}')
ACCEPTED = (b'{"E":1748288615134547,"O":"USER","Q":"3568.3445","S":"Ask","T":1748288615133255,"V":"RejectTaker",'
            b'"X":"New","Z":"0","e":"orderAccepted","f":"GTC","i":"114575842681290753","o":"LIMIT","p":"178.15",'
            b'"q":"20.03","r":false,"s":"SOL_USDC","t":null,"z":"0"}')
POSITION = (b'{"B":"4236.36","E":"1754943862040486","M":"4235.88650933","P":"-0.000473","Q":"0.0010",'
            b'"T":"1754943862040487","b":"4238.479","e":"positionOpened","f":"0.02","i":5411399049,"l":"0",'
            b'"m":"0.0125","n":"4.23588650933","p":"0","q":"0.0010","s":"ETH_USDC_PERP"}')
