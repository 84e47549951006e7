"""runtime.streams: the REST catch-up of user streams after reconnects lives in the runtime, and the
exchange streams only decode and report.

Against the emulated venues on loopback (real clients, real sockets, market process stopped): a
fill whose frame is lost as the private socket drops (``user_drop`` fault) is recovered over REST by
the runtime's :class:`StreamReconciler` once the stream reconnects, on every exchange; a stream
started on its own (``client.start_user_stream``) does not reconcile and so misses that fill, until
``start_user_streams`` attaches the reconciler (which then catches up at once); a failing catch-up
is counted and never stops the stream. A source check keeps the stream modules off the clients'
REST and private members.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from decimal import Decimal

import pytest

from perpdex.exchanges import registry
from perpdex.exchanges import userstream as base_stream
from perpdex.exchanges.aster import userstream as aster_stream
from perpdex.exchanges.backpack import userstream as backpack_stream
from perpdex.exchanges.base import ExchangeClient
from perpdex.exchanges.lighter import userstream as lighter_stream
from perpdex.exchanges.paradex import userstream as paradex_stream
from perpdex.models import OrderStatus, Side
from perpdex.runtime import streams
from perpdex.runtime.streams import StreamReconciler, reconciler_of, start_user_streams
from perpdex.sim.server import start_emulators
from tests.exchanges.userstream_scenarios import Env, market_qty
from tests.execution.emulated import make_client
from tests.waiting import eventually

EXCHANGES = ("aster", "lighter", "backpack", "paradex")
SYMBOL = "ETH"
TIMEOUT = 10.0


@pytest.fixture
async def venues():
    cluster = await start_emulators(list(EXCHANGES), run_market=False, seed=7)
    clients = {n: make_client(cluster, n) for n in EXCHANGES}
    try:
        await asyncio.gather(*(c.connect() for c in clients.values()))
        yield cluster, clients
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
        await cluster.stop()


def qty_for(cluster, client: ExchangeClient) -> Decimal:
    return market_qty(Env(client, cluster.sim, cluster.sim.venue(client.name), "", SYMBOL, None))  # type: ignore[arg-type]


async def test_reconciler_recovers_a_fill_lost_while_the_socket_was_down(venues):
    """On every exchange at once: the fill frame is lost and the socket closed; after the
    reconnect the runtime's reconciler brings the fill (trade id = the client's REST history) and
    the final order state; counted once, and a full catch-up afterwards adds nothing."""
    cluster, clients = venues
    started = await start_user_streams(clients, [SYMBOL], TIMEOUT)
    assert set(started) == set(EXCHANGES)
    for name, stream in started.items():
        assert reconciler_of(stream) is not None and clients[name].user_stream is stream
        await eventually(lambda s=stream: s.reconciliations >= 1, f"{name}: first catch-up")
        assert stream.reconcile_errors == 0 and stream.recovered_fills == 0

    async def lose_one_fill(name: str) -> None:
        client, stream = clients[name], started[name]
        cluster.sim.venue(name).faults.inject("user_drop", symbol=SYMBOL)
        qty = qty_for(cluster, client)
        res = await client.place_market_order(SYMBOL, Side.BUY, qty)
        assert res.order_id is not None
        fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
        assert sum(f.qty for f in fills) == qty, (name, stream.stats())
        assert stream.reconnects >= 1 and stream.recovered_fills >= 1, (name, stream.stats())
        rest = {f.trade_id: f.qty for f in await client.fetch_fills(SYMBOL) if f.order_id == res.order_id}
        assert {f.trade_id: f.qty for f in fills} == rest, name
        final = await stream.wait_order_final(res.order_id, TIMEOUT)
        assert final is not None and final.status is OrderStatus.FILLED and final.filled == qty, (name, final)
        await eventually(lambda: (p := stream.position(SYMBOL)) is not None and p.quantity == qty, f"{name} position")
        recovered, count = stream.recovered_fills, len(stream.fills())
        await reconciler_of(stream).reconcile()  # type: ignore[union-attr]
        assert (stream.recovered_fills, len(stream.fills()), stream.reconcile_errors) == (recovered, count, 0)

    await asyncio.gather(*(lose_one_fill(n) for n in EXCHANGES))


@pytest.mark.parametrize("name", ["aster", "paradex"])
async def test_a_stream_started_alone_does_not_reconcile_until_the_runtime_attaches(venues, name):
    """``client.start_user_stream`` only decodes: the lost fill stays lost across the reconnect;
    ``start_user_streams`` on the running stream attaches the reconciler, which catches up at once
    (the stream is connected) and recovers it, the same stream object, once."""
    cluster, clients = venues
    client = clients[name]
    stream = await client.start_user_stream([SYMBOL])
    assert await stream.wait_connected(TIMEOUT)
    cluster.sim.venue(name).faults.inject("user_drop", symbol=SYMBOL)
    qty = qty_for(cluster, client)
    res = await client.place_market_order(SYMBOL, Side.BUY, qty)
    assert res.order_id is not None
    await eventually(lambda: stream.reconnects >= 1 and stream.stats()["state"] == "connected", "reconnected")
    assert await stream.wait_connected(TIMEOUT)
    assert await stream.wait_fill(res.order_id, 1.0) == []  # lost, and nobody asks REST
    assert stream.reconciliations == 0 and stream.recovered_fills == 0 and reconciler_of(stream) is None
    again = await start_user_streams({name: client}, [SYMBOL], TIMEOUT)
    assert again[name] is stream
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills) == qty and stream.recovered_fills == len(fills) >= 1
    await eventually(lambda: stream.reconciliations >= 1, "catch-up counted")
    reconciliations = stream.reconciliations
    await start_user_streams({name: client}, [SYMBOL], TIMEOUT)  # idempotent: still one reconciler
    await asyncio.sleep(0.2)
    assert stream.reconciliations == reconciliations and isinstance(reconciler_of(stream), StreamReconciler)


async def test_a_failed_catch_up_is_counted_and_the_stream_keeps_going(venues):
    """The first REST call of the catch-up is refused (``http429``: the client raises RateLimited):
    counted in ``reconcile_errors`` (exported in ``stats()``), the stream stays connected and
    delivers the next fill; the next reconnect catches up again and recovers a lost fill."""
    cluster, clients = venues
    client = clients["backpack"]  # its stream signs locally: the catch-up's fetch_fills is its first REST call
    venue = cluster.sim.venue("backpack")
    venue.faults.inject("http429")
    stream = (await start_user_streams({"backpack": client}, [SYMBOL], TIMEOUT))["backpack"]
    await eventually(lambda: stream.reconcile_errors >= 1, "the failed catch-up counted")
    st = stream.stats()
    assert st["reconciliations"] == 1 and st["reconcile_errors"] == 1 and st["state"] == "connected", st
    qty = qty_for(cluster, client)
    res = await client.place_market_order(SYMBOL, Side.BUY, qty)
    assert res.order_id is not None
    assert sum(f.qty for f in await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)) == qty
    assert stream.recovered_fills == 0  # from the socket itself
    venue.faults.inject("user_drop", symbol=SYMBOL)
    res2 = await client.place_market_order(SYMBOL, Side.SELL, qty, reduce_only=True)
    assert res2.order_id is not None
    assert sum(f.qty for f in await stream.wait_fill(res2.order_id, TIMEOUT, qty=qty)) == qty
    assert stream.reconnects >= 1 and stream.recovered_fills >= 1 and stream.reconcile_errors == 1, stream.stats()


async def test_a_stream_that_cannot_authenticate_is_left_retrying():
    """A client whose stream cannot authenticate is logged and left connecting (it keeps retrying):
    ``start_user_streams`` returns after the timeout instead of raising."""
    from perpdex.exchanges.base import ExchangeSettings

    client = registry.client_class("aster")(ExchangeSettings("aster", rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9"))
    try:
        started = await start_user_streams({"aster": client}, [SYMBOL], 0.3)
        stream = started["aster"]
        assert not await stream.wait_connected(0.05) and stream.stats()["state"] == "connecting"
        assert "private key" in (stream.last_error or "")
    finally:
        await client.close()


STREAM_MODULES = [base_stream, aster_stream, lighter_stream, backpack_stream, paradex_stream]


@pytest.mark.parametrize("module", STREAM_MODULES, ids=lambda m: m.__name__)
def test_stream_modules_never_reach_into_their_client(module):
    src = inspect.getsource(module)
    for banned in ("_priv(", ".ensure_markets(", "self.client", ".private", "translate_errors", "fetch_order",
                   "fetch_position", "fetch_fills(", "fetch_my_trades", "reconcile(", "from .client import",
                   "from ..base import", "from .base import", '"ExchangeClient"'):
        assert banned not in src, f"{module.__name__} still uses {banned!r}"
    assert not hasattr(base_stream.UserStream, "reconcile") and not hasattr(base_stream.UserStream, "fetch_fills")


def test_runtime_streams_names_no_exchange():
    src = inspect.getsource(streams).lower()
    for name in registry.names():
        assert not re.search(rf"\b{name}\b", src), name
