from decimal import Decimal
from pathlib import Path

import pytest

from perpdex.config import load_config, parse_config
from perpdex.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_sim_config_loads():
    cfg = load_config(ROOT / "configs" / "sim.yml")
    assert cfg.sim.enabled and set(cfg.exchanges) == {"aster", "lighter", "backpack", "paradex"}
    assert cfg.exchanges["aster"].rest_url is None  # no URL: live exchange unless the emulator runs


@pytest.mark.parametrize("data, field", [
    ({"exchanges": {"nope": {}}}, "exchanges"),
    ({"exchanges": {"aster": {"rest_url": "ftp://x"}}}, "exchanges.aster.rest_url"),
    ({"exchanges": {"aster": {}}, "strategy": {"size_usd": -5}}, "strategy.size_usd"),
    ({"exchanges": {"aster": {}}, "strategy": {"leverage": "lots"}}, "strategy.leverage"),
    ({"exchanges": {"aster": {}}, "strategy": {"typo_field": 1}}, "strategy.typo_field"),
    ({}, "exchanges"),
])
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert e.value.field == field
    assert field in str(e.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("exchanges: [unclosed")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert "YAML" in str(e.value)


def test_risk_keys_have_defaults_and_are_validated():
    s = parse_config({"exchanges": {"aster": {}}}).strategy
    assert (s.max_spread_bps, s.margin_buffer, s.min_liquidation_distance, s.exit.min_liquidation_distance) == (
        Decimal(50), Decimal("0.10"), Decimal("0.10"), Decimal("0.05"))
    for bad, field in (({"max_spread_bps": 0}, "strategy.max_spread_bps"),
                       ({"margin_buffer": -0.1}, "strategy.margin_buffer"),
                       ({"min_liquidation_distance": 1}, "strategy.min_liquidation_distance"),
                       ({"exit": {"min_liquidation_distance": -0.01}}, "strategy.exit.min_liquidation_distance")):
        with pytest.raises(ConfigError) as e:
            parse_config({"exchanges": {"aster": {}}, "strategy": bad})
        assert e.value.field == field
    # the exit distance must stay below the entry distance, or a new pair would close at once
    with pytest.raises(ConfigError, match="must be below strategy.min_liquidation_distance") as e:
        parse_config({"exchanges": {"aster": {}}, "strategy": {"min_liquidation_distance": 0.05}})
    assert e.value.field == "strategy.exit"
    ok = parse_config({"exchanges": {"aster": {}},
                       "strategy": {"min_liquidation_distance": 0.05, "exit": {"min_liquidation_distance": 0}}})
    assert ok.strategy.exit.min_liquidation_distance == 0  # exit check disabled


# -- strategies: a list of entries, each of its own kind ------------------------------------------
from perpdex.config import FundingArbConfig, GridConfig, StrategyConfig  # noqa: E402

TWO = {"aster": {}, "lighter": {}}


def grid(**kw):
    return {"kind": "grid", "exchange": "lighter", "symbol": "eth", "order_notional_usd": 50, **kw}


def test_every_bundled_config_loads():
    files = sorted(f for f in (ROOT / "configs").glob("*.yml")
                   if f.name != "replay-sim.yml")  # needs a recording: tests/sim/test_recorded.py loads it
    assert {f.name for f in files} >= {"sim.yml", "grid-sim.yml", "both-sim.yml"}
    kinds = {f.name: [s.kind for s in load_config(f).strategies] for f in files}
    assert kinds["sim.yml"] == ["funding_arb"]
    assert kinds["grid-sim.yml"] == ["grid"]
    assert kinds["both-sim.yml"] == ["funding_arb", "grid"]
    g = load_config(ROOT / "configs" / "grid-sim.yml").strategies[0]  # the tunable figures are left free
    assert (g.exchange, g.symbol, g.direction, g.resolved_name) == ("lighter", "ETH", "buy", "grid-lighter-eth")


def test_legacy_strategy_section_is_one_funding_arb_entry():
    cfg = load_config(ROOT / "configs" / "sim.yml")
    [entry] = cfg.strategies
    assert isinstance(entry, FundingArbConfig) and isinstance(entry, StrategyConfig)
    assert (entry.kind, entry.resolved_name, entry.size_usd, entry.exit.max_age_s) == (
        "funding_arb", "funding_arb", Decimal(2000), 45)
    assert cfg.strategy is entry  # the old accessor reads the same entry
    # no strategy section at all: one default funding_arb entry, as before
    bare = parse_config({"exchanges": TWO})
    assert [s.kind for s in bare.strategies] == ["funding_arb"] and bare.strategy.size_usd == Decimal(1000)


def test_list_with_both_kinds():
    cfg = parse_config({"exchanges": TWO, "strategies": [
        grid(direction="sell", stop_price=4200, pause_price=4000),
        {"kind": "funding_arb", "name": "arb", "size_usd": 500},
        grid(symbol="BTC", quantity=0.001, order_notional_usd=None, grid_step=0.001)]})
    g, fa, g2 = cfg.strategies
    assert isinstance(g, GridConfig) and isinstance(fa, FundingArbConfig) and isinstance(g2, GridConfig)
    assert [s.resolved_name for s in cfg.strategies] == ["grid-lighter-eth", "arb", "grid-lighter-btc"]
    assert (g.symbol, g.take_profit, g.max_orders, g.wait_time_s, g.leverage, g.boost, g.user_streams) == (
        "ETH", Decimal("0.002"), 5, 30, Decimal(3), False, True)
    assert (g2.quantity, g2.order_notional_usd, g2.grid_step) == (Decimal("0.001"), None, Decimal("0.001"))
    assert cfg.strategy is fa and fa.size_usd == Decimal(500)
    # only grids: scan and the API still read a (default) funding_arb entry
    only = parse_config({"exchanges": TWO, "strategies": [grid()]})
    assert only.strategy == FundingArbConfig()


def _error(data):
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    return e.value


@pytest.mark.parametrize("entry, field, message", [
    ({"kind": "funding_arb", "take_profit": 0.01}, "strategies.0.funding_arb.take_profit",
     "Extra inputs are not permitted (take_profit is a grid key; this entry's kind is funding_arb)"),
    (grid(size_usd=100), "strategies.0.grid.size_usd",
     "Extra inputs are not permitted (size_usd is a funding_arb key; this entry's kind is grid)"),
    (grid(typo=1), "strategies.0.grid.typo", "Extra inputs are not permitted"),
    ({"size_usd": 100}, "strategies.0.kind", "missing: each strategies: entry needs a kind (funding_arb, grid)"),
    ({"kind": "martingale"}, "strategies.0.kind", "'martingale' is not a strategy kind (kinds: funding_arb, grid)"),
])
def test_a_key_of_the_wrong_kind_is_one_error_naming_entry_and_field(entry, field, message):
    err = _error({"exchanges": TWO, "strategies": [entry]})
    assert (err.field, str(err)) == (field, f"config field '{field}': {message}")


def test_legacy_errors_still_name_strategy_fields():
    assert _error({"exchanges": TWO, "strategy": {"take_profit": 0.01}}).field == "strategy.take_profit"
    assert _error({"exchanges": TWO, "strategy": [1]}).field == "strategy"
    err = _error({"exchanges": TWO, "strategy": {}, "strategies": [grid()]})
    assert err.field == "strategy" and "not both" in str(err)
    assert _error({"exchanges": TWO, "strategies": []}).field == "strategies"


@pytest.mark.parametrize("extra, which", [({"order_notional_usd": None}, "neither"), ({"quantity": 1}, "both")])
def test_grid_needs_exactly_one_size(extra, which):
    err = _error({"exchanges": TWO, "strategies": [grid(**extra)]})
    assert err.field == "strategies.0.grid"
    assert "order_notional_usd" in str(err) and "quantity" in str(err) and which in str(err)


@pytest.mark.parametrize("direction, stop, pause, ok", [
    ("buy", 3500, 4200, True), ("buy", 4200, 3500, False), ("buy", 4000, 4000, False),
    ("sell", 4200, 3500, True), ("sell", 3500, 4200, False), ("sell", 4000, 4000, False),
])
def test_stop_and_pause_price_order_follows_direction(direction, stop, pause, ok):
    data = {"exchanges": TWO, "strategies": [grid(direction=direction, stop_price=stop, pause_price=pause)]}
    if ok:
        g = parse_config(data).strategies[0]
        assert (g.stop_price, g.pause_price) == (Decimal(stop), Decimal(pause))
    else:
        err = _error(data)
        assert err.field == "strategies.0.grid" and f"a {direction} grid needs stop_price ({stop})" in str(err)
    # one of them alone is always fine
    assert parse_config({"exchanges": TWO, "strategies": [grid(direction=direction, stop_price=stop)]})


@pytest.mark.parametrize("key, value", [
    ("take_profit", 0), ("take_profit", 1), ("grid_step", -0.1), ("max_orders", 0), ("wait_time_s", -1),
    ("stop_price", 0), ("leverage", 0.5), ("max_margin_usd", 0), ("stop_loss", 1), ("max_position_age_s", 0),
    ("post_only_offset_ticks", -1), ("entry_timeout_s", 0), ("max_funding_apr_against", -0.1),
    ("cycle_interval_s", 0), ("take_profit_reprice_retries", -1), ("direction", "long"),
])
def test_grid_bounds_name_the_field(key, value):
    assert _error({"exchanges": TWO, "strategies": [grid(**{key: value})]}).field == f"strategies.0.grid.{key}"


def test_names_are_unique():
    err = _error({"exchanges": TWO, "strategies": [{"kind": "funding_arb"}, grid(), {"kind": "funding_arb"}]})
    assert err.field == "strategies.2.funding_arb.name" and "'funding_arb'" in str(err)
    err = _error({"exchanges": TWO, "strategies": [grid(), grid(take_profit=0.01)]})
    assert err.field == "strategies.1.grid.name" and "'grid-lighter-eth'" in str(err)
    ok = parse_config({"exchanges": TWO, "strategies": [grid(), grid(name="eth-2", take_profit=0.01)]})
    assert [s.resolved_name for s in ok.strategies] == ["grid-lighter-eth", "eth-2"]


def test_grid_exchange_must_be_enabled():
    err = _error({"exchanges": TWO, "strategies": [grid(exchange="paradex")]})
    assert err.field == "strategies.0.grid.exchange" and "'paradex'" in str(err) and "aster, lighter" in str(err)
    err = _error({"exchanges": {"aster": {}, "lighter": {"enabled": False}}, "strategies": [grid()]})
    assert err.field == "strategies.0.grid.exchange" and "(enabled: aster)" in str(err)
