"""Benchmark: what alerts cost the trading path.

A strategy publishes an event on the runtime's bus (``TradingRuntime.event``); the notifier's
subscriber runs in the strategy's own task. Measured: ``EventBus.publish`` of a
``position_closed`` event with its figures, (a) with no subscriber, (b) with a notifier of two
channels subscribed whose receivers hang (a Telegram API and a webhook that never answer), the
alerts then being queued (queue of ``--queue`` per channel, dedupe off, so each one is queued or
drops the oldest). The events are logged at INFO as in a run; logging goes to a null handler.

Run: ``.venv/bin/python benchmarks/bench_alerts.py [--events N]``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import time

from aiohttp import web

from perpdex.alerts.config import AlertsConfig
from perpdex.alerts.notifier import Notifier
from perpdex.runtime.events import EventBus, EventKind


async def hanging_server() -> tuple[web.AppRunner, str]:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", hang)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


def publish_times(bus: EventBus, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        bus.publish(EventKind.POSITION_CLOSED, f"closed #{i} 0G: long exit @ 0.1523, short exit @ 0.1521",
                    strategy="funding_arb", position_id=i, symbol="0G", long_exchange="a", short_exchange="b",
                    net_pnl_usd="-0.85", funding_usd="2.41", fees_usd="1.30", price_pnl_usd="-1.96")
        out.append(time.perf_counter() - t0)
    return out


async def main(n: int, queue: int) -> None:
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("perpdex").setLevel(logging.INFO)
    logging.getLogger("perpdex").propagate = False
    runner, url = await hanging_server()
    try:
        bare = publish_times(EventBus(keep=500), n)
        cfg = AlertsConfig.model_validate({"queue_size": queue, "dedupe_window_s": 0, "channels": [
            {"type": "telegram", "bot_token": "1:x", "chat_id": "1", "api_base": url, "timeout_s": 300},
            {"type": "webhook", "url": f"{url}/hook", "timeout_s": 300}]})
        notifier = Notifier(cfg)
        await notifier.start()
        bus = EventBus(keep=500)
        notifier.attach(bus)
        with_alerts = publish_times(bus, n)
        dropped = sum(c["dropped"] for c in notifier.stats()["channels"])
        await notifier.close(timeout_s=0)
    finally:
        await runner.cleanup()
    print(f"Python {sys.version.split()[0]}, {platform.machine()}; {n} events, queue {queue} per channel, "
          f"{dropped} alerts dropped from full queues")
    for name, xs in (("no subscriber", bare), ("notifier, 2 hanging channels", with_alerts)):
        xs = sorted(xs)
        print(f"{name:32s} median {statistics.median(xs) * 1e6:6.1f} us  p99 {xs[int(len(xs) * 0.99)] * 1e6:6.1f} us"
              f"  max {xs[-1] * 1e6:7.1f} us")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--queue", type=int, default=100)
    args = ap.parse_args()
    asyncio.run(main(args.events, args.queue))
