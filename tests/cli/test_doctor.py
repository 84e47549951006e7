"""``perpdex doctor`` through the CLI: signers, storage, exchanges (emulated on loopback, and one
that nothing answers), clock skew; exit codes and no traceback."""

from __future__ import annotations

import json
import socket
import time
from email.utils import formatdate
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from perpdex.cli.doctor import clock_skew_s
from perpdex.cli.main import app
from perpdex.errors import DependencyMissing, PerpdexError
from perpdex.exchanges import registry
from perpdex.exchanges.lighter.signer import library_filename


def doctor(*args: str):
    result = CliRunner().invoke(app, ["doctor", *args])
    assert "Traceback" not in result.output, result.output
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "perpdex.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_emulated_install_is_healthy(tmp_path):
    db = tmp_path / "d.db"
    cfg = write(tmp_path, {"sim": {"enabled": True}, "exchanges": {n: {} for n in registry.names()},
                           "storage": {"url": f"sqlite+aiosqlite:///{db}"}})
    assert CliRunner().invoke(app, ["db", "upgrade", "--config", str(cfg)]).exit_code == 0
    result = doctor("--config", str(cfg), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = {c["name"]: c for c in out["checks"]}
    assert out["failed"] == 0
    for name in registry.names():
        assert rows[f"signer {name}"]["status"] == "ok", rows[f"signer {name}"]
        assert rows[f"exchange {name}"]["status"] == "ok" and "10 markets" in rows[f"exchange {name}"]["detail"]
        assert rows[f"clock vs {name}"]["status"] == "ok"  # the emulator runs on this machine's clock
    assert rows["storage"]["status"] == "ok" and "schema at head" in rows["storage"]["detail"]


def test_unreachable_exchange_and_storage_fail_with_one_line_each(tmp_path):
    port = closed_port()
    name = registry.names()[0]
    cfg = write(tmp_path, {"sim": {"enabled": False},
                           "exchanges": {name: {"rest_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/ws"}},
                           "storage": {"url": f"postgresql+asyncpg://u:topsecret@127.0.0.1:{port}/x"}})
    started = time.monotonic()
    result = doctor("--config", str(cfg), "--json", "--timeout", "3")
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    rows = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert rows[f"exchange {name}"]["status"] == "fail" and str(port) in rows[f"exchange {name}"]["detail"]
    assert rows["storage"]["status"] == "fail" and "storage.url" in rows["storage"]["detail"]
    assert "topsecret" not in result.output


def test_table_and_summary_without_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default storage URL is relative: nothing is created here
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "perpdex doctor" in result.output and "failed" in result.output
    assert list(tmp_path.iterdir()) == []


def test_bad_config_is_one_line(tmp_path):
    result = doctor("--config", str(tmp_path / "missing.yml"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_clock_skew_from_the_date_header():
    now = time.time()
    assert clock_skew_s(formatdate(now + 30, usegmt=True), now, now) == pytest.approx(30, abs=1)
    assert clock_skew_s(formatdate(now, usegmt=True), now - 0.1, now + 0.1) == pytest.approx(0, abs=1)
    assert clock_skew_s(None, now, now) is None and clock_skew_s("yesterday", now, now) is None


def test_missing_lighter_signer_names_the_fix():
    with pytest.raises(DependencyMissing) as err:
        library_filename("plan9", "mips")
    assert isinstance(err.value, PerpdexError) and err.value.exchange == "lighter"
    assert str(err.value).startswith("[lighter] ")
