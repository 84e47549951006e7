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
