"""``perpdex backtest`` end to end on a tiny stored history (the hand-computed one): the table, the
JSON report, ``--json`` and the PNG chart."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.funding.settled import SettledFundingStore
from perpdex.storage import Store

from .test_hand_computed import rows


def setup(tmp_path):
    db = tmp_path / "bt.db"

    async def write() -> None:
        store = Store(f"sqlite+aiosqlite:///{db}")
        await store.init()
        await SettledFundingStore(store.sessions).add(rows())
        await store.close()

    asyncio.run(write())
    cfg = tmp_path / "bt.yml"
    cfg.write_text(yaml.safe_dump({
        "exchanges": {"aster": {"taker_fee": "0.0004"}, "lighter": {}},
        "strategy": {"size_usd": 1000, "leverage": 2, "max_positions": 1, "min_net_apr": 0.1,
                     "reentry_cooldown_s": 3600, "exit": {"min_spread_apr": 0.05}},
        "backtest": {"slippage_bps": 1, "default_taker_fee": "0.0002"},
        "storage": {"url": f"sqlite+aiosqlite:///{db}"},
    }))
    return cfg


def test_table_report_and_plot(tmp_path):
    cfg = setup(tmp_path)
    out_json, out_png = tmp_path / "bt.json", tmp_path / "bt.png"
    res = CliRunner().invoke(app, ["backtest", "--config", str(cfg), "--since", "2025-01-01", "--until",
                                   "2025-01-01T12:00:00", "--offline", "--report", str(out_json), "--plot", str(out_png)])
    assert res.exit_code == 0, res.output
    assert "Backtest positions" in res.output and "ETH" in res.output and "spread flipped" in res.output
    assert "net APR on capital" in res.output and "-87.60%" in res.output  # -1.2 / 1000 * 8760 / 12
    # lighter has no override and no catalog offline: backtest.default_taker_fee, said so
    assert "lighter 0.020% (default)" in res.output and "aster 0.040% (config)" in res.output
    data = json.loads(out_json.read_text())
    assert Decimal(data["totals"]["net_pnl"]) == Decimal("-1.2")
    [pos] = data["positions"]
    assert (pos["symbol"], pos["long_exchange"], pos["short_exchange"]) == ("ETH", "aster", "lighter")
    assert len(data["equity"]) == 12
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000


def test_json_and_bad_input(tmp_path):
    cfg = setup(tmp_path)
    res = CliRunner().invoke(app, ["backtest", "-c", str(cfg), "--since", "2025-01-01", "--until", "2025-01-01 12:00",
                                   "--offline", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["totals"]["funding_flips"] == 1 and data["settings"]["liquidity_filters"] == "off"
    bad = CliRunner().invoke(app, ["backtest", "-c", str(cfg), "--since", "yesterday", "--offline"])
    assert bad.exit_code == 2 and "not a date" in bad.output
    empty = CliRunner().invoke(app, ["backtest", "-c", str(cfg), "--since", "2024-01-01", "--until", "2024-02-01",
                                     "--offline"])
    assert empty.exit_code == 1 and "no settled funding stored" in empty.output
