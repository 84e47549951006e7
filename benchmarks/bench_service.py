"""Benchmark: ``perpdex serve`` under 20 concurrent clients on a store holding 30 days of collection.

1. The store: 30 days of rounds every 60 s for the emulator's ``default`` scenario (4 exchanges x
   10 symbols: 1.73 M rows), written straight into SQLite by ``benchmarks/service_store.py``
   (about 30 s; ``--db PATH`` keeps and reuses it: rounds older than the run are simply older).
2. The service: the real ``perpdex serve`` CLI in a subprocess, on 127.0.0.1, against the emulators
   run in their own process as real exchanges are (``perpdex sim --seed 42``; ``--emulators inprocess``:
   inside the service, ``sim.enabled``), and a collection round every 5 s into that store.
3. The clients: ``--clients`` (20) concurrent httpx clients, each sending its next request as soon as
   the last one is answered, for ``--seconds`` (60) after a warm-up (``--warmup``, 15 s, not
   counted; the first request of each long window per symbol loads that symbol's month and is
   reported separately). The mix (weights): /health 20, /funding-rates 15, /opportunities 15,
   /opportunities with a week of statistics 5, history of a random symbol over 1 h 10, 24 h 10,
   30 days 10, 365 days 10, 30 days on one exchange 5.

Reported: p50 / p99 per route and overall, requests per second, collection rounds run and lost
(a round with a storage error or an exchange failure, from /health), /health p99 both within the mix and
as a monitor in its own process sees it (one GET every 50 ms), the server's peak RSS (VmHWM) and the
machine's load average.

Run: ``.venv/bin/python benchmarks/bench_service.py [--db /tmp/bench-service.db]``.
Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service_store  # noqa: E402 - a sibling benchmark module, found through the path set above
from sim_process import emulator_process, exchanges_config, stop  # noqa: E402 - likewise

SYMBOLS = ["BTC", "ETH", "SOL", "AAVE", "INJ", "CRV", "2Z", "0G", "DOGE", "XRP"]
MIX = [
    ("health", 20, lambda s: "/health"),
    ("funding-rates", 15, lambda s: "/funding-rates"),
    ("opportunities", 15, lambda s: "/opportunities"),
    ("opportunities 168h", 5, lambda s: "/opportunities?history_hours=168"),
    ("history 1h", 10, lambda s: f"/funding-rates/{s}/history?hours=1"),
    ("history 24h", 10, lambda s: f"/funding-rates/{s}/history?hours=24"),
    ("history 30d", 10, lambda s: f"/funding-rates/{s}/history?hours=720"),
    ("history 365d", 10, lambda s: f"/funding-rates/{s}/history?hours=8760"),
    ("history 30d 1 exchange", 5, lambda s: f"/funding-rates/{s}/history?hours=720&exchange=lighter"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)] if xs else float("nan")


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _wait_ready(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=5) as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"perpdex serve exited with {proc.returncode}")
            try:
                if (await c.get("/health")).json()["rounds"] >= 1:
                    return
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("perpdex serve did not start")


async def _client(base: str, until: float, lat: dict[str, list[float]], errors: dict[str, int],
                  rng: random.Random) -> None:
    names, weights = [m[0] for m in MIX], [m[1] for m in MIX]
    paths = {m[0]: m[2] for m in MIX}
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        while time.monotonic() < until:
            name = rng.choices(names, weights)[0]
            path = paths[name](rng.choice(SYMBOLS))
            t = time.perf_counter()
            try:
                r = await c.get(path)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            lat[name].append(time.perf_counter() - t)
            if not ok:
                errors[name] += 1


PROBE_INTERVAL_S = 0.05


def _probe_health(base: str, seconds: float, interval: float, out: Any) -> None:
    """A monitor's view of ``/health`` during the load: its own process and connection (blocking
    ``http.client``, so the load generator's busy event loop is not in the figure), one GET every
    ``interval`` s for ``seconds`` s; sends the latencies (s) through ``out``."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    lat: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        lat.append(time.perf_counter() - t)
        time.sleep(interval)
    conn.close()
    out.send(lat)


async def _cold(base: str) -> dict[str, float]:
    """The first 30-day history of each symbol (loads its month into memory), one at a time."""
    out = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        for s in SYMBOLS:
            t = time.perf_counter()
            r = await c.get(f"/funding-rates/{s}/history", params={"hours": 720})
            r.raise_for_status()
            out[s] = time.perf_counter() - t
    return out


async def _health(base: str) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        return (await c.get("/health")).json()


def _lost(h0: dict, h1: dict) -> tuple[int, int]:
    """(rounds run, rounds lost) between two /health answers."""
    rounds = h1["rounds"] - h0["rounds"]
    errs0 = {e["exchange"]: e["errors"] for e in h0["exchanges"]}
    lost_ex = max((e["errors"] - errs0.get(e["exchange"], 0) for e in h1["exchanges"]), default=0)
    return rounds, max(h1["store_errors"] - h0["store_errors"], lost_ex)


async def run(args: argparse.Namespace, db: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if args.emulators == "inprocess":
            await serve_and_load(args, db, Path(tmp), {"sim": {"enabled": True, "seed": 42}, "exchanges": {
                "aster": {}, "lighter": {}, "backpack": {}, "paradex": {}}})
        else:
            with emulator_process(Path(tmp), seed=42) as endpoints:
                await serve_and_load(args, db, Path(tmp), {"exchanges": exchanges_config(endpoints)})


async def serve_and_load(args: argparse.Namespace, db: Path, tmp: Path, exchanges: dict) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = tmp / "serve.yml"
    cfg.write_text(yaml.safe_dump({
        **exchanges, "storage": {"url": f"sqlite+aiosqlite:///{db}"},
        "service": {"interval_s": args.interval, "port": port}, "log_level": "WARNING"}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "perpdex.cli.main", "serve", "--config", str(cfg)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        t = time.perf_counter()
        await _wait_ready(base, proc)
        print(f"service up with its first round in {time.perf_counter() - t:.1f} s; RSS {_rss_mb(proc.pid):.0f} MB")
        cold = await _cold(base)
        print(f"first 30-day history per symbol (cold): p50 {_pct(list(cold.values()), 0.5) * 1000:.0f} ms, "
              f"max {max(cold.values()) * 1000:.0f} ms; RSS {_rss_mb(proc.pid):.0f} MB")
        rng = random.Random(int(os.environ.get("PERPDEX_BENCH_SEED", "1")))
        warm_lat: dict[str, list[float]] = defaultdict(list)
        warm_err: dict[str, int] = defaultdict(int)
        until = time.monotonic() + args.warmup
        await asyncio.gather(*(_client(base, until, warm_lat, warm_err, random.Random(rng.random()))
                               for _ in range(args.clients)))
        h0 = await _health(base)
        load0 = os.getloadavg()
        lat: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        probe_rx, probe_tx = multiprocessing.Pipe(duplex=False)
        probe = multiprocessing.get_context("spawn").Process(
            target=_probe_health, args=(base, args.seconds, PROBE_INTERVAL_S, probe_tx), daemon=True)
        probe.start()
        t0 = time.monotonic()
        await asyncio.gather(*(_client(base, t0 + args.seconds, lat, errors, random.Random(rng.random()))
                               for _ in range(args.clients)))
        took = time.monotonic() - t0
        probed: list[float] = probe_rx.recv() if probe_rx.poll(30) else []
        probe.join(5)
        h1 = await _health(base)
        load1 = os.getloadavg()
        rounds, lost = _lost(h0, h1)
        everything = [x for v in lat.values() for x in v]
        print(f"\n{args.clients} clients for {took:.0f} s, collection every {args.interval:g} s; "
              f"load average {load0[0]:.2f} -> {load1[0]:.2f} on {os.cpu_count()} cores")
        print(f"{'route':<24} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, _, _ in MIX:
            v = lat[name]
            print(f"{name:<24} {len(v):>8} {errors[name]:>6} {_pct(v, .5) * 1000:>8.1f} {_pct(v, .99) * 1000:>8.1f} "
                  f"{max(v, default=float('nan')) * 1000:>8.1f}")
        print(f"{'overall':<24} {len(everything):>8} {sum(errors.values()):>6} {_pct(everything, .5) * 1000:>8.1f} "
              f"{_pct(everything, .99) * 1000:>8.1f} {max(everything) * 1000:>8.1f}")
        print(f"{'health, own monitor':<24} {len(probed):>8} {'':>6} {_pct(probed, .5) * 1000:>8.1f} "
              f"{_pct(probed, .99) * 1000:>8.1f} {max(probed, default=float('nan')) * 1000:>8.1f}"
              f"   (a separate process, one GET every {PROBE_INTERVAL_S * 1000:.0f} ms)")
        print(f"\n{len(everything) / took:.0f} req/s; collection rounds {rounds}, lost {lost}; "
              f"status {h1['status']}; peak RSS {_rss_peak_mb(proc.pid):.0f} MB (now {_rss_mb(proc.pid):.0f} MB)")
    finally:
        stop(proc)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if "Traceback" in err or "locked" in err:
            print("server stderr:\n" + err[-3000:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, help="store to build once and reuse (default: a temporary file)")
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=15)
    p.add_argument("--interval", type=float, default=5)
    p.add_argument("--emulators", choices=("process", "inprocess"), default="process",
                   help="the emulated exchanges in their own process (as real ones are; default) or inside the service")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "service.db"
        if not db.exists():
            t = time.perf_counter()
            n = service_store.build(db, days=args.days)
            print(f"store: {n} rows ({args.days:g} days at 60 s, 4 exchanges x 10 symbols) in {time.perf_counter() - t:.1f} s")
        else:
            print(f"store: reusing {db}")
        asyncio.run(run(args, db))


if __name__ == "__main__":
    main()
