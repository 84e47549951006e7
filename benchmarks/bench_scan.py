"""Benchmark: ``perpdex scan`` (collect + rank, four exchanges) on the ``large`` scenario.

The emulator runs in its own process (``perpdex sim --scenario large``), as a real exchange would,
so the CPU measured here is perpdex's alone. Each run is what one ``perpdex scan`` does after
start-up: open the four clients and funding adapters, load the catalogs (taker fees), collect one
round of funding rates, mark prices, 24h volume and open interest from the four exchanges
concurrently, and rank every pair (``perpdex.cli.scan.collect_and_rank``). Reported: p50 / p90
wall time and CPU time of the process (ms), the collection and ranking parts, and the catalog
sizes. Aster reads open interest one symbol at a time within a window per round
(``open_interest_round_s``, default 4 s), so the scan is measured with the default window and with
no window (what everything else costs).

Run: ``.venv/bin/python benchmarks/bench_scan.py [--runs 9]``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from perpdex.cli.scan import collect_and_rank
from perpdex.config import parse_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_process import emulator_process, exchanges_config  # noqa: E402 - a sibling benchmark helper, found through the path set above


def config(endpoints: dict, workdir: Path, oi_window: float | None):
    options = {} if oi_window is None else {"open_interest_round_s": oi_window}
    return parse_config({"exchanges": exchanges_config(endpoints, **options),
                         "storage": {"url": f"sqlite+aiosqlite:///{workdir / 'b.db'}"},
                         "strategy": {"min_volume_24h_usd": 0, "min_open_interest_usd": 0}})


async def one(cfg) -> dict:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    res = await collect_and_rank(cfg)
    return {"wall_ms": (time.perf_counter() - wall0) * 1e3, "cpu_ms": (time.process_time() - cpu0) * 1e3,
            "collect_ms": res.collect_s * 1e3, "rank_ms": res.rank_s * 1e3,
            "markets": {n: len(r) for n, r in sorted(res.snapshot.rates.items())},
            "pairs": len(res.opportunities), "errors": res.snapshot.errors}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)]


async def series(cfg, runs: int) -> list[dict]:
    await one(cfg)  # warm-up: imports, first connections
    return [await one(cfg) for _ in range(runs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with emulator_process(workdir, scenario="large") as endpoints:
            print(f"{args.runs} runs per case after a warm-up, python {platform.python_version()} on "
                  f"{platform.machine()}, {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')}); emulator in its own process")
            print("| Aster OI window | wall p50 ms | wall p90 ms | CPU p50 ms | CPU p90 ms | collect p50 ms | rank p50 ms | markets | pairs |")
            print("|---|---|---|---|---|---|---|---|---|")
            for label, window in (("4 s (default)", None), ("none", 0.0)):
                rows = asyncio.run(series(config(endpoints, workdir, window), args.runs))
                errors = [r["errors"] for r in rows if r["errors"]]
                if errors:
                    print(f"errors: {errors[0]}", file=sys.stderr)
                col = lambda k, rows=rows: [r[k] for r in rows]  # noqa: E731 - a one-line column picker for the table row
                markets = " / ".join(f"{n} {c}" for n, c in rows[-1]["markets"].items())
                print(f"| {label} | **{statistics.median(col('wall_ms')):.0f}** | {pct(col('wall_ms'), 0.9):.0f} | "
                      f"**{statistics.median(col('cpu_ms')):.0f}** | {pct(col('cpu_ms'), 0.9):.0f} | "
                      f"{statistics.median(col('collect_ms')):.0f} | {statistics.median(col('rank_ms')):.1f} | "
                      f"{markets} | {rows[-1]['pairs']} |", flush=True)


if __name__ == "__main__":
    main()
