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
