"""What a newcomer meets first: ``--config`` found in its default places, a clear line when it is
nowhere, and ``--help`` without a value type on on/off flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.config import DEFAULT_CONFIG_PATHS, default_config_path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_no_config_anywhere_is_one_line_naming_both_places(home):
    result = CliRunner().invoke(app, ["scan"])
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--config" in lines[0]
    assert all(str(p) in lines[0] for p in DEFAULT_CONFIG_PATHS)


def test_user_config_then_working_directory_config(home, tmp_path):
    user = home / ".config" / "perpdex" / "config.yml"
    user.parent.mkdir(parents=True)
    user.write_text("sim: {enabled: true}\n")
    assert default_config_path() == user
    (tmp_path / "perpdex.yml").write_text("sim: {enabled: true}\n")
    assert default_config_path() == Path("perpdex.yml")  # the working directory's wins


def help_text(*args: str) -> str:
    """``perpdex ARGS --help`` as the console script prints it (a subprocess, wide terminal)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "perpdex.cli.main", *args, "--help"], capture_output=True,
                          text=True, timeout=60, env=env, check=True).stdout


def test_flags_show_no_value_type_in_help():
    for args in (["run"], ["accounts", "add"], ["doctor"]):
        out = help_text(*args)
        assert "--help" in out and "<bool>" not in out, (args, out)
    assert "<path>" in help_text("run")  # valued options keep their type
