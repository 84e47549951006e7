"""The command line, run as a user would: real subprocesses against the in-process emulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]


def sim_config(tmp_path: Path, **strategy) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["sim"]["funding_time_scale"] = 3600
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    data["strategy"].update(strategy)
    p = tmp_path / "cfg.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def run(args, timeout=90):
    return subprocess.run([*PERPDEX, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_help_explains_every_command():
    out = run(["--help"]).stdout
    for cmd in ("run", "scan", "funding", "book", "sim"):
        assert cmd in out
    assert "--endpoints-file" in run(["sim", "--help"]).stdout


def test_bad_config_is_one_clear_error_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("exchanges: {aster: {}}\nstrategy: {size_usd: -1}\n")
    res = run(["scan", "--config", str(bad)])
    assert res.returncode == 2
    assert "strategy.size_usd" in res.stderr and "Traceback" not in res.stderr


def test_funding_and_scan_json(tmp_path):
    cfg = sim_config(tmp_path)
    res = run(["funding", "--config", str(cfg), "--json"])
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)["funding_rates"]
    assert {r["exchange"] for r in rows} == {"aster", "lighter", "backpack", "paradex"}
    lighter_eth = next(r for r in rows if r["exchange"] == "lighter" and r["symbol"] == "ETH")
    assert lighter_eth["interval_hours"] == "1"
    paradex_btc = next(r for r in rows if r["exchange"] == "paradex" and r["symbol"] == "BTC")
    assert paradex_btc["interval_hours"] == "8"
    res = run(["scan", "--config", str(cfg), "--json"])
    assert res.returncode == 0, res.stderr
    best = json.loads(res.stdout)["opportunities"][0]
    # the widest 0G spread of the four: Backpack pays longs -1.79e-4/h, Lighter charges +1.2e-4/h
    assert (best["symbol"], best["long_exchange"], best["short_exchange"]) == ("0G", "backpack", "lighter")


def test_book_once_prints_the_websocket_book(tmp_path):
    cfg = sim_config(tmp_path)
    res = run(["book", "lighter", "BTC", "--config", str(cfg), "--levels", "5", "--once", "--json"])
    assert res.returncode == 0, res.stderr
    book = json.loads(res.stdout)
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])


def test_run_writes_a_report(tmp_path):
    cfg = sim_config(tmp_path, scan_interval_s=0.5, exit={"max_age_s": 5, "min_spread_apr": 0.05})
    out = tmp_path / "report.json"
    res = run(["run", "--config", str(cfg), "--duration", "10", "--report", str(out)], timeout=120)
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    [pos] = rep["positions"]
    for key in ("symbol", "long_exchange", "short_exchange", "size", "opened_at", "closed_at",
                "entry_fees", "exit_fees", "funding", "pnl", "close_reason"):
        assert pos[key] is not None, key
    assert "net PnL" in res.stdout and "Funding rates" in res.stdout


def test_sim_writes_endpoints_that_unmodified_ccxt_uses(tmp_path):
    ep_file = tmp_path / "endpoints.json"
    proc = subprocess.Popen([*PERPDEX, "sim", "--endpoints-file", str(ep_file)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not ep_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        endpoints = json.loads(ep_file.read_text())
        assert set(endpoints) == {"aster", "lighter", "backpack", "paradex"}
        for ep in endpoints.values():
            assert ep["rest_url"].startswith("http://127.0.0.1:") and ep["ws_url"].startswith("ws://127.0.0.1:")
        code = (
            "import asyncio, json, sys, ccxt.async_support as ccxt\n"
            "async def main():\n"
            "    ep = json.load(open(sys.argv[1]))\n"
            "    for name in ('aster', 'lighter', 'backpack', 'paradex'):\n"
            "        ex = getattr(ccxt, name)(ep[name]['ccxt'])\n"
            "        try:\n"
            "            m = await ex.load_markets()\n"
            "            print(name, len(m))\n"
            "        finally:\n"
            "            await ex.close()\n"
            "asyncio.run(main())\n"
        )
        res = subprocess.run([sys.executable, "-c", code, str(ep_file)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        counts = dict(line.split() for line in res.stdout.split("\n") if line)
        assert all(int(counts[name]) >= 8 for name in endpoints)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_status_json_reports_every_exchange(tmp_path):
    cfg = sim_config(tmp_path)
    res = run(["status", "--config", str(cfg), "--symbols", "BTC,ETH", "--json"])
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert set(st["exchanges"]) == {"aster", "lighter", "backpack", "paradex"}
    for name, e in st["exchanges"].items():
        assert "error" not in e, (name, e)
        assert e["markets"] >= 8 and e["feed"]["state"] == "connected"
        assert all(s["ready"] for s in e["feed"]["symbols"].values())
        bid, ask = map(float, e["bbo"]["BTC"])
        assert bid < ask
    assert st["positions"] == []
