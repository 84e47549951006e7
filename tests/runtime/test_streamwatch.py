"""runtime.streamwatch: a real market-feed outage on the emulator (the socket closed, reconnects
refused for a while) is published once as ``stream_down`` and its end once as ``stream_up``; a
feed paused on purpose and resumed (the idle market-data policy) is not an outage."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from perpdex.runtime.core import TradingRuntime
from perpdex.runtime.events import EventKind
from perpdex.runtime.streamwatch import StreamWatch
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from tests.execution.emulated import make_client


class RefuseWebSockets:
    def __init__(self) -> None:
        self.on = False

    @web.middleware
    async def middleware(self, request: web.Request, handler):  # noqa: ANN001, ANN201
        if self.on and request.headers.get("Upgrade", "").lower() == "websocket":
            return web.Response(status=503)
        return await handler(request)


async def until(cond, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_a_feed_outage_is_published_once_and_a_pause_is_not(tmp_path):
    refuse = RefuseWebSockets()
    cluster = await start_emulators(["aster"], seed=3, middlewares=(refuse.middleware,))
    client = make_client(cluster, "aster")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.init()
    rt = TradingRuntime({"aster": client}, store)
    events = []
    rt.events.subscribe(lambda ev: events.append(ev) if ev.kind in (EventKind.STREAM_DOWN, EventKind.STREAM_UP) else None)
    watch = StreamWatch(rt, interval_s=0.02)
    try:
        await rt.start()
        watch.start()
        await client.prepare_market_feed("BTC")
        assert await client.feed.wait_ready("BTC", 10)
        await asyncio.sleep(0.1)

        await client.pause_market_data_streams()  # on purpose: not an outage ...
        await asyncio.sleep(0.2)
        await client.prepare_market_feed("BTC")  # ... nor is the reconnect that resumes it
        assert await client.feed.wait_ready("BTC", 10)
        await asyncio.sleep(0.2)
        assert events == []

        refuse.on = True
        cluster.sim.venue("aster").faults.inject("drop")
        await until(lambda: len(events) == 1)
        await asyncio.sleep(0.3)  # still down: published once
        refuse.on = False
        await until(lambda: len(events) == 2)
    finally:
        await watch.stop()
        await rt.close()
        await store.close()
        await cluster.stop()
    down, up = events
    assert (down.kind, down.data, down.level) == (EventKind.STREAM_DOWN, {"exchange": "aster", "stream": "feed"}, 30)
    assert up.kind == EventKind.STREAM_UP and up.data["exchange"] == "aster" and up.data["down_s"] >= 0.3
