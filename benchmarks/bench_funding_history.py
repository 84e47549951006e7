"""Benchmark: the emulator's generated funding past and the history download.

1. Generation: 180 days of settlements for N markets (lazy per market, cached), the funding and
   index processes stepped per settlement; hourly (1 h interval) markets are the worst case.
2. Download: ``perpdex.funding.download`` of 30 days x 10 symbols from each emulated exchange over
   loopback into SQLite, then the re-run (nothing new).

Run: ``.venv/bin/python benchmarks/bench_funding_history.py``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeSettings
from perpdex.funding.download import plan_downloads, run_downloads
from perpdex.funding.settled import SettledFundingStore
from perpdex.sim.engine import IndexProcess, MarketSpec, Venue
from perpdex.sim.market import FundingParams
from perpdex.sim.server import start_emulators
from perpdex.storage import Store


def bench_generation(markets: int) -> float:
    specs = [MarketSpec(f"S{i}", Decimal("0.01"), Decimal("0.1"), Decimal("0.1"), Decimal(0), 20, 0.0001, 1.0)
             for i in range(markets)]
    index = IndexProcess({s.symbol: 100.0 for s in specs}, seed=1)
    venue = Venue("bench", specs, index, funding=FundingParams())
    t = time.perf_counter()
    for s in specs:
        venue.funding_history(s.symbol)
    return time.perf_counter() - t


async def bench_download() -> None:
    cluster = await start_emulators(run_market=False)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite+aiosqlite:///{tmp}/b.db")
        await store.init()
        repo = SettledFundingStore(store.sessions)
        clients = {}
        for n, ep in cluster.endpoints.items():
            clients[n] = registry.client_class(n)(ExchangeSettings(n, ep["rest_url"], ep["ws_url"], options={"ccxt": ep["ccxt"]}))
        until = datetime.fromtimestamp(min(v.started_ms for v in cluster.sim.venues.values()) / 1000, tz=UTC)
        since = until - timedelta(days=30)
        symbols = {n: sorted(v.markets) for n, v in cluster.sim.venues.items()}
        for label in ("first run", "re-run"):
            t = time.perf_counter()
            tasks = await plan_downloads(repo, symbols, since, until)
            results = await run_downloads(clients, repo, tasks)
            took = time.perf_counter() - t
            per = {n: (sum(r.added for r in results if r.exchange == n), sum(r.pages for r in results if r.exchange == n))
                   for n in symbols}
            print(f"download {label}: {took:.1f} s; rows added / pages per exchange: {per}")
        for c in clients.values():
            await c.close()
        await store.close()
    await cluster.stop()


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}")
    for n in (10, 100, 300):
        s = bench_generation(n)
        print(f"generation: {n} hourly markets x 180 days: {s:.2f} s ({s / n * 1000:.1f} ms per market)")
    asyncio.run(bench_download())


if __name__ == "__main__":
    main()
