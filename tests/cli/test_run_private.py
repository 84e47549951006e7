"""A ``perpdex run -v`` on the emulator, as a user runs it with debug logging: the tokens the
exchanges derive from the credentials (Lighter's 8 h auth token, Paradex's JWT, Aster's listen
key) never reach the log, and the database and the report are created readable by their owner
only, under the common umask 022."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

LIGHTER_TOKEN = re.compile(r"\b\d{10}:\d+:\d+:[0-9a-f]{32,}")  # {deadline}:{account}:{api key index}:{signature}
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")


def test_debug_run_logs_no_derived_token_and_writes_owner_only_files(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    data["sim"]["funding_time_scale"] = 3600
    data["strategy"].update(scan_interval_s=0.5, exit={"max_age_s": 4, "min_spread_apr": 0.05})
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(yaml.safe_dump(data))
    report = tmp_path / "report.json"
    res = subprocess.run([sys.executable, "-m", "perpdex.cli.main", "run", "--config", str(cfg), "-v",
                          "--duration", "8", "--report", str(report)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, preexec_fn=lambda: os.umask(0o022))
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stderr
    # the debug lines that carried the tokens are there, masked
    assert re.search(r"Authorization': '\*\*\*'", log), "no masked Lighter request line: nothing was tested"
    assert '"jwt_token":"***"' in log and '"listenKey":"***"' in log
    assert LIGHTER_TOKEN.findall(log) == [] and JWT.findall(log) == []
    assert "position(s), 1 closed" in res.stdout  # it traded: private calls of every kind were made
    for path in (tmp_path / "run.db", report):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    plain = tmp_path / "plain"
    subprocess.run(["touch", str(plain)], check=True, preexec_fn=lambda: os.umask(0o022))
    assert stat.S_IMODE(os.stat(plain).st_mode) == 0o644  # what the umask alone would have given
