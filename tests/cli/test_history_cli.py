"""``perpdex history fetch`` / ``show`` through the CLI app: the in-process emulator from the config,
a real SQLite file, JSON and table output; bad input is one clear line with exit code 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app


def _run(*args: str, cwd: Path):
    args = tuple(str(cwd / a) if a == "c.yml" else a for a in args)
    return CliRunner().invoke(app, list(args))


def test_fetch_then_show_end_to_end(tmp_path):
    db = tmp_path / "h.db"
    cfg = {"sim": {"enabled": True, "seed": 42}, "exchanges": {"aster": {}, "lighter": {}, "backpack": {}, "paradex": {}},
           "storage": {"url": f"sqlite+aiosqlite:///{db}"}}
    (tmp_path / "c.yml").write_text(yaml.safe_dump(cfg))
    out = _run("history", "fetch", "-c", "c.yml", "--since", "2d", "--symbols", "BTC,XRP", "--json", cwd=tmp_path)
    assert out.exit_code == 0, out.stderr
    results = json.loads(out.stdout)
    assert {(r["exchange"], r["symbol"]) for r in results} == {(e, s) for e in cfg["exchanges"] for s in ("BTC", "XRP")}
    assert all(r["error"] is None and r["added"] == r["fetched"] > 0 for r in results)
    rows = sqlite3.connect(db).execute("select exchange, symbol, rate, interval_hours, rate_8h from funding_history").fetchall()
    assert len(rows) == sum(r["added"] for r in results)
    assert {(e, s) for e, s, *_ in rows} == {(r["exchange"], r["symbol"]) for r in results}

    table = _run("history", "fetch", "-c", "c.yml", "--since", "2d", "--exchanges", "aster,lighter", "-s", "BTC",
                 cwd=tmp_path)
    assert table.exit_code == 0, table.stderr
    assert "funding history download" in table.stdout and "aster" in table.stdout and "paradex" not in table.stdout

    shown = json.loads(_run("history", "show", "-c", "c.yml", "--json", cwd=tmp_path).stdout)
    assert {(c["exchange"], c["symbol"]) for c in shown} >= {(r["exchange"], r["symbol"]) for r in results}

    bad = _run("history", "fetch", "-c", "c.yml", "--since", "yesterday", cwd=tmp_path)
    assert bad.exit_code == 2 and "yesterday" in bad.stderr
    unknown = _run("history", "fetch", "-c", "c.yml", "--since", "2d", "--exchanges", "nowhere", cwd=tmp_path)
    assert unknown.exit_code == 2 and "nowhere" in unknown.stderr
