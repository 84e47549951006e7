"""Benchmark: local overhead from "opportunity chosen" to both orders on the wire (issue 5).

Against the emulated exchanges on loopback, in this process: real clients (ccxt, signers), the
real pre-flight (:func:`perpdex.execution.preflight.run_preflight`) and the atomic executor
(:class:`perpdex.execution.atomic.AtomicPairExecutor`), WebSocket books ready and the leverage
already set (a warm-up run per pair sets it). One run:

    t0 = perf_counter(); run_preflight(...); executor.open(...)      # market orders

and the emulator side stamps each request on arrival (an aiohttp middleware run first on every
venue, before parsing or authentication); the request that makes the venue's matching engine
place an order gives that venue's order arrival. Overhead = the later of the two arrivals - t0.

Also measured, per run:

* **build + sign**: per order, from ccxt ``create_order`` entered to the HTTP request handed to
  aiohttp (request building and the exchange's signing: EIP-712 for Aster, Lighter's Go signer,
  ED25519 for Backpack, the Stark signature for Paradex). Both legs are signed on the one event
  loop thread, so both count in the overhead: "overhead - signing" subtracts both;
* **REST before the orders**: every REST request that reached the two emulators between t0 and
  the second order (position, balance and leverage reads), and **REST book/BBO** calls during the
  whole execution (every ``fetch_order_book_rest``: PriceProvider misses and client fallbacks),
  which must be 0 with live WebSocket books.

Each opened pair is closed (untimed) before the next run; the legs alternate direction run by
run (A long / B short, then B long / A short).

Run: ``.venv/bin/python benchmarks/bench_execution.py [runs per pair]`` (part of ``make bench``).
Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import platform
import statistics
import sys
import time
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from aiohttp import web

from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeClient, ExchangeSettings
from perpdex.execution.atomic import AtomicPairExecutor, ExecutionConfig
from perpdex.execution.preflight import run_preflight
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.tactics import TacticConfig
from perpdex.sim.server import start_emulators

SYMBOL = "ETH"
SIZE_USD = Decimal(100)
LEVERAGE = Decimal(3)
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
WARMUP = 3
PAIRS = [("aster", "lighter"), ("backpack", "paradex"), ("lighter", "paradex"), ("aster", "paradex"),
         ("lighter", "backpack"), ("aster", "backpack")]
EXCHANGES = ("aster", "lighter", "backpack", "paradex")

_ARRIVAL: ContextVar[float | None] = ContextVar("bench_arrival", default=None)
_BUILD: ContextVar[list[float] | None] = ContextVar("bench_build", default=None)


class Probe:
    """Emulator-side stamps: every REST request (venue, method, path, arrival) and every order
    the engines placed (venue, arrival of the request that placed it)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, float]] = []
        self.orders: list[tuple[str, float]] = []
        self.ports: dict[int, str] = {}

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.perf_counter()
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        self.requests.append((self.ports.get(request.url.port or 0, "?"), request.method, request.path, now))
        token = _ARRIVAL.set(now)
        try:
            return await handler(request)
        finally:
            _ARRIVAL.reset(token)

    def watch(self, venue: Any) -> None:
        place = venue.place_order

        def placed(*args: Any, **kwargs: Any) -> Any:
            arrival = _ARRIVAL.get()
            self.orders.append((venue.name, arrival if arrival is not None else time.perf_counter()))
            return place(*args, **kwargs)

        venue.place_order = placed


class Signing:
    """Per order: ccxt ``create_order`` entered -> first non-GET request handed to the transport."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, float]] = []

    def attach(self, name: str, ex: Any) -> None:
        create, fetch = ex.create_order, ex.fetch

        async def create_order(*args: Any, **kwargs: Any) -> Any:
            token = _BUILD.set([time.perf_counter()])
            try:
                return await create(*args, **kwargs)
            finally:
                _BUILD.reset(token)

        async def fetch_(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            box = _BUILD.get()
            if box is not None and len(box) == 1 and method != "GET":
                box.append(time.perf_counter())
                self.samples.append((name, box[1] - box[0]))
            return await fetch(url, method, headers, body)

        ex.create_order, ex.fetch = create_order, fetch_


def ccxt_instance(client: ExchangeClient) -> Any:
    private = getattr(client, "private", None) or client._priv()  # type: ignore[attr-defined]
    return private.client


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    probe = Probe()
    cluster = await start_emulators(list(EXCHANGES), seed=7, middlewares=(probe.middleware,))
    for name, ep in cluster.endpoints.items():
        probe.ports[int(ep["rest_url"].split(":")[2].split("/")[0])] = name
        probe.watch(cluster.sim.venue(name))
    clients: dict[str, ExchangeClient] = {}
    for name in EXCHANGES:
        ep = cluster.endpoints[name]
        clients[name] = registry.client_class(name)(ExchangeSettings(
            name, rest_url=ep["rest_url"], ws_url=ep["ws_url"], options={"ccxt": copy.deepcopy(ep["ccxt"])}))
    rest_books: dict[str, int] = {n: 0 for n in EXCHANGES}
    signing = Signing()
    try:
        for name, c in clients.items():
            await c.connect()
            await c.prepare_market_feed(SYMBOL)
            assert await c.feed.wait_ready(SYMBOL, 10), f"{name}: book not ready"
            await c.fetch_position(SYMBOL)  # creates the private (ccxt) side
            signing.attach(name, ccxt_instance(c))
            orig = c.fetch_order_book_rest

            async def counted(symbol: str, levels: int = 10, _orig: Any = orig, _name: str = name) -> Any:
                rest_books[_name] += 1
                return await _orig(symbol, levels)

            c.fetch_order_book_rest = counted  # type: ignore[method-assign]

        executor = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TacticConfig(order_timeout_s=2.0)))
        print(f"python {platform.python_version()} on {platform.machine()}; {SYMBOL} ~{SIZE_USD} USD per leg, "
              f"market orders, {RUNS} runs per pair (closed between runs, legs alternating), {WARMUP} warm-up runs")
        head = (f"{'pair':18s} {'p50 ms':>7s} {'p90 ms':>7s} {'max ms':>7s} {'pre p50':>8s} {'sign p50':>9s} "
                f"{'-sign p50':>10s} {'-sign p90':>10s} {'REST before':>11s} {'REST books':>10s}")
        print(head)
        sign_all: dict[str, list[float]] = {n: [] for n in EXCHANGES}
        for a, b in PAIRS:
            prices = PriceProvider()
            totals, pres, signs, nets, before = [], [], [], [], []
            books0 = sum(rest_books.values())
            for i in range(WARMUP + RUNS):
                long, short = (a, b) if i % 2 == 0 else (b, a)
                lc, sc = clients[long], clients[short]
                probe.requests.clear()
                probe.orders.clear()
                signing.samples.clear()
                t0 = time.perf_counter()
                pre = await run_preflight(lc, sc, SYMBOL, size_usd=SIZE_USD, leverage=LEVERAGE,
                                          max_slippage_bps=Decimal(50), ready_timeout_s=2.0, prices=prices)
                t_pre = time.perf_counter()
                res = await executor.open(lc, sc, SYMBOL, pre.long_qty, pre.short_qty, use_limit=False,
                                          start_positions=(pre.long_position, pre.short_position))
                if not res.success:
                    raise SystemExit(f"{long}->{short} run {i}: {res.reason}")
                first: dict[str, float] = {}
                for venue, t in probe.orders:
                    first.setdefault(venue, t)
                t_both = max(first[long], first[short])
                done = await executor.close(lc, sc, SYMBOL, pre.long_qty, pre.short_qty, use_limit=False)
                if not done.success:
                    raise SystemExit(f"{long}->{short} run {i} close: {done.reason}")
                if i < WARMUP:
                    continue
                total = (t_both - t0) * 1000
                sign = sum(s for _, s in signing.samples[:2]) * 1000
                for n, s in signing.samples[:2]:
                    sign_all[n].append(s * 1000)
                totals.append(total)
                pres.append((t_pre - t0) * 1000)
                signs.append(sign)
                nets.append(total - sign)
                placing = {first[long], first[short]}
                before.append(sum(1 for *_, t in probe.requests if t0 <= t <= t_both and t not in placing))
            books = sum(rest_books.values()) - books0
            print(f"{a + '-' + b:18s} {statistics.median(totals):7.1f} {pct(totals, 0.9):7.1f} {max(totals):7.1f} "
                  f"{statistics.median(pres):8.1f} {statistics.median(signs):9.1f} {statistics.median(nets):10.1f} "
                  f"{pct(nets, 0.9):10.1f} {statistics.median(before):11.0f} {books:10d}")
        print("\nbuild + sign per order (ms): "
              + ", ".join(f"{n} p50 {statistics.median(v):.2f} / p90 {pct(v, 0.9):.2f}" for n, v in sign_all.items() if v))
    finally:
        for c in clients.values():
            await c.close()
        await cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
