"""``perpdex funding`` and ``perpdex scan`` at catalog scale: the real commands (typer's runner, in
process) against the ``large`` scenario's emulator on loopback (started once for the module)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.cli.rows import FUNDING_SORTS, filter_funding, footer, sort_and_cut

runner = CliRunner()


@pytest.fixture(scope="module")
def cfg(large_cluster, tmp_path_factory):
    """A config pointing every exchange at the running emulator (as ``sim.enabled`` would)."""
    exchanges = {}
    for name, ep in large_cluster.endpoints.items():
        exchanges[name] = {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"],
                           "options": {"ccxt": ep["ccxt"], "open_interest_round_s": 0.3}}
    path = tmp_path_factory.mktemp("scan") / "cfg.yml"
    path.write_text(yaml.safe_dump({
        "exchanges": exchanges, "storage": {"url": f"sqlite+aiosqlite:///{path.parent / 'x.db'}"},
        "strategy": {"min_volume_24h_usd": 0, "min_open_interest_usd": 0, "min_net_apr": 1.0}}))
    return str(path)


def perpdex(*args: str):
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


def table_rows(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("│").split("│")] for line in output.splitlines() if line.startswith("│")]


def test_funding_table_shows_the_top_rows_and_says_what_it_hid(cfg, large_cluster):
    total = sum(len(v.markets) for v in large_cluster.sim.venues.values())
    res = perpdex("funding", "--config", cfg, "--top", "7")
    assert res.exit_code == 0, res.output
    rows = table_rows(res.output)
    assert len(rows) == 7
    volumes = [float(large_cluster.sim.venues[r[0]].markets[r[1]].volume_24h_usd) for r in rows]
    assert volumes == sorted(volumes, reverse=True)  # default order: 24h volume
    assert f"showing 7 of {total:,} funding rates" in res.output
    assert f"{total - 7:,} hidden: --top 0 shows all" in res.output
    assert "collected" in res.output and "aster 300" in res.output
    default = perpdex("funding", "--config", cfg)
    assert len(table_rows(default.output)) == 40  # a readable default


def test_funding_json_filters_by_exchange_symbol_apr_and_volume(cfg, large_cluster):
    res = perpdex("funding", "--config", cfg, "--json", "--exchanges", "lighter,paradex", "--symbols", "btc,eth,0g")
    out = json.loads(res.stdout)
    assert {(r["exchange"], r["symbol"]) for r in out["funding_rates"]} == {
        (e, s) for e in ("lighter", "paradex") for s in ("BTC", "ETH", "0G")}
    assert out["total"] == 6 and out["errors"] == {}
    res = perpdex("funding", "--config", cfg, "--json", "--sort", "abs-apr", "--min-apr", "1", "--min-volume", "100000")
    rows = json.loads(res.stdout)["funding_rates"]
    assert rows and all(abs(Decimal(r["apr"])) >= 1 and Decimal(r["volume_24h_usd"]) >= 100_000 for r in rows)
    aprs = [abs(Decimal(r["apr"])) for r in rows]
    assert aprs == sorted(aprs, reverse=True)
    expected = sum(1 for v in large_cluster.sim.venues.values() for m in v.markets.values()
                   if abs(m.funding_rate / m.funding_interval_hours * 8760) >= 1.0 and m.volume_24h_usd >= 100_000)
    assert abs(len(rows) - expected) <= 2  # Lighter's quote rounds a rate sitting on the threshold


def test_scan_ranks_sorts_filters_and_cuts(cfg):
    res = perpdex("scan", "--config", cfg)
    assert res.exit_code == 0, res.output
    rows = table_rows(res.output)
    assert len(rows) == 20
    assert "showing 20 of" in res.output and "hidden: --top 0 shows all" in res.output
    full = json.loads(perpdex("scan", "--config", cfg, "--json").stdout)
    assert full["total"] == len(full["opportunities"]) > 1000  # pairs over a few hundred shared symbols
    nets = [Decimal(o["net_apr"]) for o in full["opportunities"]]
    assert nets == sorted(nets, reverse=True)
    by_vol = json.loads(perpdex("scan", "--config", cfg, "--json", "--top", "15", "--sort", "volume",
                                "--min-volume", "2000000", "--min-apr", "0").stdout)
    vols = [Decimal(o["min_volume_24h_usd"]) for o in by_vol["opportunities"]]
    assert len(vols) == 15 and vols == sorted(vols, reverse=True) and min(vols) >= 2_000_000
    assert all(Decimal(o["net_apr"]) >= 0 for o in by_vol["opportunities"])
    assert by_vol["total"] < full["total"]
    two = json.loads(perpdex("scan", "--config", cfg, "--json", "--exchanges", "aster,backpack").stdout)
    assert {(o["long_exchange"], o["short_exchange"]) for o in two["opportunities"]} <= {
        ("aster", "backpack"), ("backpack", "aster")}


def test_scan_bad_options_are_clear_errors(cfg):
    res = perpdex("scan", "--config", cfg, "--sort", "fastest")
    assert res.exit_code == 2 and "one of apr, spread, volume, oi, symbol" in res.output
    res = perpdex("funding", "--config", cfg, "--exchanges", "aster,kraken")
    assert res.exit_code == 2 and "kraken not enabled in the config" in res.output
    res = perpdex("scan", "--config", cfg, "--symbols", "NOSUCHCOIN")
    assert res.exit_code == 0 and "no pair passes the filters" in res.output


def test_rows_helpers():
    rows = [{"exchange": "a", "symbol": s, "apr": apr, "volume_24h_usd": vol}
            for s, apr, vol in (("X", "0.5", "10"), ("Y", "-2", None), ("Z", "1", "30"))]
    shown, hidden = sort_and_cut(rows, FUNDING_SORTS, "volume", 2)
    assert [r["symbol"] for r in shown] == ["Z", "X"] and hidden == 1  # a row without volume goes last
    assert [r["symbol"] for r in sort_and_cut(rows, FUNDING_SORTS, "abs-apr", 0)[0]] == ["Y", "Z", "X"]
    assert [r["symbol"] for r in filter_funding(rows, min_abs_apr=Decimal(1))] == ["Y", "Z"]
    assert [r["symbol"] for r in filter_funding(rows, min_volume_usd=Decimal(5))] == ["X", "Z"]
    assert footer(2, 0, "funding rates", "volume", FUNDING_SORTS) == \
        "showing 2 of 2 funding rates (24h volume, largest first)"
