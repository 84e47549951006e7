"""Benchmark: the grid's reaction time, from an entry's fill on the user stream to its take-profit
order arriving at the exchange (issue 10; target: 5 ms p50 of local overhead minus signing; results in docs/BENCHMARKS.md).

Against the four emulated exchanges on loopback, in this process: real clients (ccxt, signers),
the real user streams, the runtime's :class:`~perpdex.runtime.orders.OrderTracker` with SQLite
storage (the fill is stored before the take-profit is decided, and the take-profit's row before
it is sent), and :class:`~perpdex.strategies.grid.GridStrategy`. One run:

* the grid rests its post-only entry at the bid; the index is moved so the market crosses it;
* **t0**: the venue's matching engine emits the fill (before the dialect encodes the user-stream
  frame and sends it); **t_in**: our user stream has the frame, before decoding it (the start of
  perpdex's own work: "local overhead" = t1 - t_in - signing);
* **t1**: the take-profit's HTTP request arrives at the emulator (an aiohttp middleware run first,
  before parsing or authentication), stamped by the request that makes the engine place it;
* **build + sign**: ccxt ``create_order`` entered -> request handed to the transport, for that
  take-profit (the same probe as ``bench_execution.py``). Reported: t1 - t0, and minus signing.

The take-profit is then filled (the index moved back up) before the next run.

Run: ``.venv/bin/python benchmarks/bench_grid.py [runs per exchange]`` (part of ``make bench``).
Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_execution import Probe, Signing, ccxt_instance, pct

from perpdex.config import GridConfig
from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeSettings
from perpdex.models import Side, UserFill
from perpdex.runtime.core import TradingRuntime
from perpdex.sim.engine import OrderEvent
from perpdex.sim.server import start_emulators
from perpdex.storage import OrderRole, Store
from perpdex.strategies.grid import GridStrategy

SYMBOL = "ETH"
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
WARMUP = 3
EXCHANGES = ("aster", "lighter", "backpack", "paradex")


async def wait_for(pred: Any, what: str, timeout: float = 5.0, state: Any = None) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit(f"benchmark stalled: {what} not seen in {timeout:.0f} s ({state() if state else ''})")
        await asyncio.sleep(0.005)


async def bench(name: str, cluster: Any, probe: Probe, signing: Signing, db: Path) -> dict[str, float]:
    venue = cluster.sim.venue(name)
    venue.passive_fill_prob = 0.0
    ep = cluster.endpoints[name]
    client = registry.client_class(name)(ExchangeSettings(name, rest_url=ep["rest_url"], ws_url=ep["ws_url"],
                                                          options={"ccxt": dict(ep["ccxt"])}))
    store = Store(f"sqlite+aiosqlite:///{db}")
    await store.init()
    rt = TradingRuntime({name: client}, store)
    grid = GridStrategy(GridConfig(kind="grid", exchange=name, symbol=SYMBOL, order_notional_usd=Decimal(60),
                                   take_profit=Decimal("0.002"), max_orders=1000, wait_time_s=0,
                                   entry_timeout_s=60), rt)
    fills: list[float] = []

    def on_engine(ev: Any) -> None:
        if isinstance(ev, OrderEvent) and ev.fill is not None and ev.order.side == "buy":
            fills.append(time.perf_counter())

    received: list[float] = []

    def stamp_frames(stream: Any) -> None:
        """t0 of "local overhead": our user stream has the frame (before decoding it)."""
        decode = stream.handle_frame

        def handle_frame(data: bytes) -> Any:
            t = time.perf_counter()
            events = decode(data)
            if any(isinstance(e, UserFill) and e.side is Side.BUY for e in events):
                received.append(t)
            return events

        stream.handle_frame = handle_frame

    remove = venue.subscribe(on_engine)
    totals, nets, signs, locals_ = [], [], [], []
    try:
        await grid.start()
        signing.attach(name, ccxt_instance(client))
        stamp_frames(client.user_stream)
        for i in range(WARMUP + RUNS):
            await grid.cycle()
            await wait_for(lambda: bool(grid.orders.live(OrderRole.ENTRY)), f"{name} entry",
                           state=lambda: (grid.state.paused, grid.orders.unsettled(), grid.orders.position,
                                          [(r.role, r.quantity, r.filled, r.status, (r.detail or {}).get("error"))
                                           for r in grid.orders.rows.values()][-3:]))
            fills.clear()
            received.clear()
            probe.orders.clear()
            signing.samples.clear()
            tps = len(grid.orders.live(OrderRole.TAKE_PROFIT))
            cluster.sim.index.prices[SYMBOL] *= 0.994  # the market crosses the entry (even one priced off a book a tick old)
            await wait_for(lambda tps=tps: len(grid.orders.live(OrderRole.TAKE_PROFIT)) > tps and probe.orders, f"{name} take-profit",
                           state=lambda: ([(r.role, r.quantity, r.filled, r.status) for r in grid.orders.rows.values()][-2:],
                                          [(o.side, o.price, o.filled, o.status) for a in venue.accounts.values()
                                           for o in a.orders.values()][-2:], venue.bbo(SYMBOL), grid.orders._queue.qsize()))
            t0, t1 = fills[0], probe.orders[0][1]
            t_in = received[0] if received else t0
            sign = signing.samples[0][1] if signing.samples else 0.0
            cluster.sim.index.prices[SYMBOL] *= 1.009  # the take-profit fills
            await wait_for(lambda: grid.orders.position == 0 and not grid.orders.live(OrderRole.TAKE_PROFIT), f"{name} flat")
            await asyncio.sleep(0.3)  # the WebSocket book catches up with the move before the next entry
            if i >= WARMUP:
                totals.append((t1 - t0) * 1000)
                signs.append(sign * 1000)
                nets.append((t1 - t0 - sign) * 1000)
                locals_.append((t1 - t_in - sign) * 1000)
    finally:
        remove()
        await grid.stop()
        await rt.close()
        await store.close()
    return {"p50": pct(totals, 0.5), "p90": pct(totals, 0.9), "sign": pct(signs, 0.5),
            "net50": pct(nets, 0.5), "net90": pct(nets, 0.9), "local50": pct(locals_, 0.5),
            "local90": pct(locals_, 0.9)}


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    probe = Probe()
    cluster = await start_emulators(list(EXCHANGES), seed=7, middlewares=(probe.middleware,), price_time_scale=1e-6)
    for name, ep in cluster.endpoints.items():
        probe.ports[int(ep["rest_url"].split(":")[2].split("/")[0])] = name
        probe.watch(cluster.sim.venue(name))
    signing = Signing()
    print(f"python {platform.python_version()} on {platform.machine()}; grid {SYMBOL} ~60 USD entries, "
          f"{RUNS} runs per exchange, {WARMUP} warm-up runs, SQLite store")
    print(f"{'exchange':10s} {'p50 ms':>7s} {'p90 ms':>7s} {'sign p50':>9s} {'-sign p50':>10s} {'-sign p90':>10s} "
          f"{'local p50':>10s} {'local p90':>10s}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in EXCHANGES:
                r = await bench(name, cluster, probe, signing, Path(tmp) / f"{name}.db")
                print(f"{name:10s} {r['p50']:7.2f} {r['p90']:7.2f} {r['sign']:9.2f} {r['net50']:10.2f} {r['net90']:10.2f} "
                      f"{r['local50']:10.2f} {r['local90']:10.2f}")
    finally:
        await cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
