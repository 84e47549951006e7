"""Benchmark: the funding-arb backtest over one year of hourly settled funding, four exchanges x
250 symbols (8 760 h x 1 000 markets = 8.76 M symbol-hours), target <= 30 s.

The history is synthetic and deterministic (seed 11): per symbol a common funding level that
drifts (AR(1)), per exchange its own offset and noise, every market settling hourly (the worst
case for loading: one row per symbol-hour), a mark price with every row. It is written once
straight into the ``funding_history`` table of a SQLite store made by perpdex's migrations and
kept under the system temp directory for the next run (delete it to regenerate).

Timed: load (the backtest's bulk loader) and the simulation (the live strategy's decision code
hour by hour); reported as symbol-hours per second.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [symbols]`` (default 250). Results:
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from perpdex.backtest.engine import BacktestSettings
from perpdex.backtest.loader import load_history
from perpdex.backtest.runner import run_backtest
from perpdex.config import parse_config
from perpdex.storage import Store

EXCHANGES = ("aster", "lighter", "backpack", "paradex")
HOURS = 8760
SEED = 11
START = datetime(2025, 1, 1, tzinfo=UTC)


def synthetic_rows(n_symbols: int):
    """Rows (exchange, symbol, funding_time, rate, interval_hours, rate_8h, mark_price, source,
    fetched_at) of the synthetic year, as the table stores them (decimal strings, naive UTC)."""
    rng = np.random.default_rng(SEED)
    level = np.zeros((HOURS, n_symbols))
    shock = rng.normal(0, 0.00002, (HOURS, n_symbols))
    level[0] = rng.normal(0.0001, 0.0001, n_symbols)
    for h in range(1, HOURS):  # AR(1) of the 8h level, pulled towards 0.00125 % per 8h
        level[h] = 0.98 * level[h - 1] + 0.02 * 0.0000125 + shock[h]
    price = 10 * np.exp(np.cumsum(rng.normal(0, 0.004, (HOURS, n_symbols)), axis=0))
    times = [(START + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S.%f") for h in range(HOURS)]
    fetched = START.strftime("%Y-%m-%d %H:%M:%S.%f")
    for ex in EXCHANGES:
        offset = rng.normal(0, 0.00004, n_symbols)
        noise = rng.normal(0, 0.00002, (HOURS, n_symbols))
        rate = np.round(level / 8 + offset / 8 + noise / 8, 8)  # per 1h interval
        basis = 1 + rng.normal(0, 0.0005, (HOURS, n_symbols))
        mark = np.round(price * basis, 4)
        for s in range(n_symbols):
            sym = f"S{s:03d}"
            r, m = rate[:, s], mark[:, s]
            yield from ((ex, sym, times[h], repr(float(r[h])), "1", repr(float(r[h] * 8)), repr(float(m[h])),
                         "synthetic", fetched) for h in range(HOURS))


async def make_db(n_symbols: int) -> str:
    path = os.path.join(tempfile.gettempdir(), f"perpdex-bench-backtest-{n_symbols}-{SEED}.db")
    if os.path.exists(path):
        return path
    store = Store(f"sqlite+aiosqlite:///{path}.part")
    await store.init()
    await store.close()
    con = sqlite3.connect(path + ".part")
    t0 = time.perf_counter()
    con.executemany("INSERT INTO funding_history (exchange, symbol, funding_time, rate, interval_hours, rate_8h, "
                    "mark_price, source, fetched_at) VALUES (?,?,?,?,?,?,?,?,?)", synthetic_rows(n_symbols))
    con.commit()
    con.close()
    os.replace(path + ".part", path)
    print(f"wrote {path} in {time.perf_counter() - t0:.0f} s")
    return path


async def main(n_symbols: int) -> None:
    path = await make_db(n_symbols)
    cfg = parse_config({"exchanges": {ex: {"taker_fee": "0.0004"} for ex in EXCHANGES},
                        "strategy": {"size_usd": 1000, "leverage": 3, "min_net_apr": 0.05, "max_positions": 5},
                        "storage": {"url": f"sqlite+aiosqlite:///{path}"}})
    store = Store(cfg.storage.url)
    await store.init()
    try:
        t0 = time.perf_counter()
        history = await load_history(store, START, START + timedelta(hours=HOURS))
        t_load = time.perf_counter() - t0
        t1 = time.perf_counter()
        settings = BacktestSettings.from_config(cfg)
        result = run_backtest(history, cfg.strategy, settings, START, START + timedelta(hours=HOURS))
        t_run = time.perf_counter() - t1
    finally:
        await store.close()
    total = t_load + t_run
    symbol_hours = result.symbol_hours
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"rows {history.rows:,}  markets {len(history.keys)}  hours {result.hours}  symbol-hours {symbol_hours:,}")
    print(f"load {t_load:.1f} s  simulate {t_run:.1f} s  total {total:.1f} s  "
          f"-> {symbol_hours / total:,.0f} symbol-hours/s")
    print(f"positions {len(result.positions)}  net {result.totals['net_pnl']:.2f} USD  "
          f"net APR {float(result.totals['net_apr']):.2%}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 250))
