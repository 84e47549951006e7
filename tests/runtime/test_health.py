"""runtime.health: silent streams are down, down exchanges are left out and come back.

Against the emulated venues on loopback (real clients, real sockets): the emulator silences one
client socket without closing it (no frame, no pong, no server ping: ``EmulatorCluster.silence``);
the market feed and the user stream each notice within their silence bound, reopen, and the
runtime publishes ``stream_down`` / ``stream_up``. No book from the silent period is served. An
order placed while the user stream is silent (its fill frame never arrives) is recovered over REST
by the runtime's reconciliation once the stream is back. An exchange marked down is probed and
published back up.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from perpdex.errors import StaleMarketData
from perpdex.models import OrderStatus, Side
from perpdex.runtime.events import EventKind
from perpdex.runtime.health import ExchangeHealth
from perpdex.runtime.streams import start_user_streams
from perpdex.sim.server import start_emulators
from tests.exchanges.userstream_scenarios import Env, market_qty
from tests.execution.emulated import make_client
from tests.waiting import eventually

EXCHANGES = ("aster", "lighter", "backpack", "paradex")
BOUND = 1.5  # seconds of silence before a socket is down (the tests' bound; live defaults are 20-30 s)
SLACK = 10.0  # generous: detection is asserted by behaviour, never by speed


class Events:
    """The publish callable of ExchangeHealth, keeping (kind, data) in order."""

    def __init__(self) -> None:
        self.items: list[tuple[EventKind, dict, float]] = []

    def __call__(self, message: str, level: int = 0, *, kind: EventKind = EventKind.INFO, **data: object) -> None:
        self.items.append((kind, dict(data), time.monotonic()))

    def of(self, kind: EventKind, **match: object) -> list[tuple[dict, float]]:
        return [(d, t) for k, d, t in self.items if k == kind and all(d.get(a) == b for a, b in match.items())]


def _local_port(ws) -> int:  # noqa: ANN001 - an aiohttp client socket
    return ws.get_extra_info("sockname")[1]


@pytest.fixture
async def cluster():
    c = await start_emulators(list(EXCHANGES), seed=7)
    try:
        yield c
    finally:
        await c.stop()


@pytest.mark.parametrize("name", EXCHANGES)
async def test_a_silent_feed_is_down_within_its_bound_serves_no_silent_book_and_recovers(cluster, name):
    client = make_client(cluster, name)
    client.feed.set_silence_timeout(BOUND)
    events = Events()
    health = ExchangeHealth({name: client}, events)
    try:
        await client.connect()
        await client.prepare_market_feed("BTC")
        assert await client.feed.wait_ready("BTC", SLACK)
        health.watch_streams()
        assert cluster.silence(name, peer_port=_local_port(client.feed._ws)) == 1  # type: ignore[attr-defined]
        silenced = time.monotonic()
        served: list[tuple[float, float]] = []  # (when served, the book's last update)
        loop = asyncio.get_running_loop()
        end = loop.time() + BOUND + SLACK
        while loop.time() < end:
            try:
                book = client.feed.book("BTC")
                served.append((time.monotonic(), book.updated_at))
            except StaleMarketData:
                pass
            downs = events.of(EventKind.STREAM_DOWN, exchange=name, stream="feed")
            if downs and served and served[-1][1] > downs[0][1]:
                break  # a fresh book from the new socket
            await asyncio.sleep(0.05)
        downs = events.of(EventKind.STREAM_DOWN, exchange=name, stream="feed")
        assert len(downs) == 1 and "silent" in str(downs[0][0]["reason"]), events.items
        detected = downs[0][1]
        assert detected - silenced <= BOUND + SLACK
        assert client.feed.silent_drops == 1 and client.feed.stats()["silent_drops"] == 1
        await eventually(lambda: bool(events.of(EventKind.STREAM_UP, exchange=name, stream="feed")), "feed back up")
        assert await client.feed.wait_ready("BTC", SLACK)
        # every book served after the silence began is either the last one from before it (at most
        # the bound old) or a fresh one from the new socket: nothing from the silent period
        for at, updated in served:
            if at > silenced:
                assert updated <= silenced + 0.5 or updated > detected, (at - silenced, updated - silenced)
                assert updated > detected or at - updated <= BOUND + 1.0
        assert any(updated > detected for _, updated in served), "no fresh book after the reconnect"
    finally:
        await health.stop()
        await client.close()


@pytest.mark.parametrize("name", ["aster", "lighter", "backpack", "paradex"])
async def test_an_order_placed_while_the_user_stream_is_silent_is_recovered_over_rest(cluster, name):
    """The fill frame of a market order is held by the silenced socket and never arrives; the
    stream is down within its bound, reconnects, and the runtime's REST reconciliation brings the
    fill and the final order state before anything trusts the stream (counted as recovered)."""
    client = make_client(cluster, name)
    events = Events()
    health = ExchangeHealth({name: client}, events)
    try:
        await client.connect()
        started = await start_user_streams({name: client}, ["ETH"], SLACK)
        stream = started[name]
        stream.set_silence_timeout(BOUND)
        # reopen on the short bound: the first socket was opened with the default heartbeat
        assert stream._ws is not None  # type: ignore[attr-defined]
        await stream._ws.close()  # type: ignore[attr-defined]
        await eventually(lambda: stream.reconnects >= 1 and stream.stats()["state"] == "connected", "reopened")
        assert await stream.wait_connected(SLACK)
        await eventually(lambda: stream.reconciliations >= 2, "catch-up after the reopen")
        health.watch_streams()
        assert cluster.silence(name, peer_port=_local_port(stream._ws)) == 1  # type: ignore[attr-defined]
        silenced = time.monotonic()
        env = Env(client, cluster.sim, cluster.sim.venue(name), "", "ETH", None)  # type: ignore[arg-type]
        qty = market_qty(env)
        res = await client.place_market_order("ETH", Side.BUY, qty)
        assert res.order_id is not None
        await eventually(lambda: bool(events.of(EventKind.STREAM_DOWN, exchange=name, stream="user")),
                         "user stream down", timeout=BOUND + SLACK)
        down = events.of(EventKind.STREAM_DOWN, exchange=name, stream="user")[0]
        assert "silent" in str(down[0]["reason"]) and down[1] - silenced <= BOUND + SLACK
        fills = await stream.wait_fill(res.order_id, SLACK, qty=qty)
        assert sum((f.qty for f in fills), Decimal(0)) == qty, stream.stats()
        assert stream.recovered_fills >= 1 and stream.silent_drops == 1, stream.stats()
        final = await stream.wait_order_final(res.order_id, SLACK)
        assert final is not None and final.status is OrderStatus.FILLED
        await eventually(lambda: bool(events.of(EventKind.STREAM_UP, exchange=name, stream="user")), "user stream up")
    finally:
        await health.stop()
        await client.close()


async def test_a_down_exchange_is_probed_with_back_off_and_published_back_up(cluster):
    client = make_client(cluster, "aster")
    events = Events()
    health = ExchangeHealth({"aster": client}, events, retry_initial_s=0.05)
    try:
        health.mark_down("aster", "catalog: connection refused")
        health.mark_down("aster", "again")  # already down: logged and published once
        assert health.down() == {"aster": "catalog: connection refused"} and health.up() == []
        assert len(events.of(EventKind.EXCHANGE_DOWN, exchange="aster")) == 1
        await asyncio.sleep(0.1)
        await health.tick()  # the probe: the catalog answers
        assert health.is_up("aster") and client.contracts
        (up, _), = events.of(EventKind.EXCHANGE_UP, exchange="aster")
        assert up["down_s"] >= 0
    finally:
        await client.close()


async def test_an_unreachable_exchange_is_down_after_connect_and_its_probes_back_off():
    from perpdex.exchanges import registry
    from perpdex.exchanges.base import ExchangeSettings

    client = registry.client_class("backpack")(ExchangeSettings("backpack", rest_url="http://127.0.0.1:9",
                                                                ws_url="ws://127.0.0.1:9"))
    events = Events()
    health = ExchangeHealth({"backpack": client}, events, retry_initial_s=0.01, retry_max_s=0.05)
    try:
        failed = await health.connect_all()
        assert set(failed) == {"backpack"} and "127.0.0.1:9" in failed["backpack"]
        assert not health.is_up("backpack") and health.summary()["down"] == failed
        for _ in range(3):
            await asyncio.sleep(0.06)
            await health.tick()
        assert health.status["backpack"].failures == 3 and not health.is_up("backpack")
        assert len(events.of(EventKind.EXCHANGE_DOWN)) == 1 and not events.of(EventKind.EXCHANGE_UP)
    finally:
        await client.close()
