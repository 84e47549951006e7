"""The token rule at the command line (perpdex.cli.dashboard): ``perpdex serve`` and ``perpdex run
--dashboard`` refuse a non-loopback address without a token, with one line and exit code 2,
before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]


@pytest.mark.parametrize("args", [["serve"], ["run", "--dashboard", "--duration", "5"]], ids=["serve", "run"])
@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_non_loopback_without_a_token_refuses_in_one_line(tmp_path, args, host):
    env = {k: v for k, v in os.environ.items() if k != "PERPDEX_API_TOKEN"}
    res = subprocess.run([*PERPDEX, *args, "--config", str(ROOT / "configs" / "sim.yml"), "--host", host,
                          "--port", "18080"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:") and host in lines[0]
    assert "PERPDEX_API_TOKEN" in lines[0] and "service.api_token" in lines[0]
    assert not list(tmp_path.iterdir())  # refused before anything started (no database created)


def test_a_short_token_in_the_environment_is_refused(tmp_path):
    env = {**os.environ, "PERPDEX_API_TOKEN": "short"}
    res = subprocess.run([*PERPDEX, "serve", "--config", str(ROOT / "configs" / "sim.yml"), "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert res.returncode == 2 and "PERPDEX_API_TOKEN" in res.stderr and "16 characters" in res.stderr
    assert "short" not in res.stderr.replace("shorter", "")
