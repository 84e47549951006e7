"""Degrade, don't die, through the command line as a user runs it (subprocesses, the in-process
emulator): an exchange that refuses connections (its URLs point at a closed port) or never
answers is named in every error line and left out while the others work; `run` refuses only when
fewer than two exchanges are up; an unusable store, a bad --config path, a bad --duration and a
malformed credential each end in one line naming what is wrong, without a traceback, in bounded
time. And a bot with one exchange down opens, collects and closes a pair on the two others, across
a restart.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]
REFUSED = {"rest_url": "http://127.0.0.1:9", "ws_url": "ws://127.0.0.1:9"}  # nothing listens on port 9


def run(args: list[str], timeout: float = 90, **kw) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    out = subprocess.run([*PERPDEX, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)
    return out, time.monotonic() - started


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of stderr (asserting there is exactly one and no traceback)."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def config(tmp_path: Path, exchanges: dict, *, storage: str | None = None, **strategy) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["exchanges"] = exchanges
    data["storage"]["url"] = storage or f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    data["strategy"].update(strategy)
    p = tmp_path / f"cfg-{len(list(tmp_path.glob('cfg-*')))}.yml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(50)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def test_scan_and_book_with_one_refusing_exchange(tmp_path):
    cfg = config(tmp_path, {"aster": {}, "lighter": REFUSED, "backpack": {}})
    proc, took = run(["scan", "--config", str(cfg)])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "from 2 exchange(s)" in proc.stdout and "aster" in proc.stdout and "backpack" in proc.stdout
    assert "warning: lighter: catalog: [lighter] GET http://127.0.0.1:9" in proc.stdout
    proc, _ = run(["book", "aster", "BTC", "--once", "--config", str(cfg)])
    assert proc.returncode == 0 and "110" in proc.stdout, proc.stderr
    proc, took = run(["book", "lighter", "BTC", "--once", "--config", str(cfg)])
    assert proc.returncode == 1 and one_error_line(proc).startswith("error: [lighter] GET http://127.0.0.1:9")
    assert took < 60


def test_a_silent_exchange_fails_each_request_in_bounded_time_naming_it(tmp_path, silent_port):
    silent = {"rest_url": f"http://127.0.0.1:{silent_port}", "ws_url": f"ws://127.0.0.1:{silent_port}"}
    cfg = config(tmp_path, {"aster": {}, "backpack": silent})
    proc, took = run(["scan", "--config", str(cfg)])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "warning: backpack: catalog:" in proc.stdout and "from 1 exchange(s)" in proc.stdout, proc.stdout
    assert took < 60


def test_funding_and_status_exit_1_when_every_exchange_failed(tmp_path):
    cfg = config(tmp_path, {"aster": REFUSED, "backpack": REFUSED})
    proc, _ = run(["funding", "--config", str(cfg)])
    assert proc.returncode == 1 and "warning: aster:" in proc.stdout and "warning: backpack:" in proc.stdout
    assert "Traceback" not in proc.stderr
    proc, _ = run(["status", "--config", str(cfg), "--json"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert '"down": [\n    "aster",\n    "backpack"\n  ]' in proc.stdout


def test_run_refuses_with_fewer_than_two_exchanges_up_naming_them(tmp_path):
    cfg = config(tmp_path, {"aster": {}, "lighter": REFUSED, "backpack": REFUSED})
    proc, took = run(["run", "--config", str(cfg), "--duration", "5"])
    line = one_error_line(proc)
    assert proc.returncode == 1 and line.startswith("error: 1 of 3 exchanges up, 2 needed: ")
    assert "lighter down ([lighter] GET http://127.0.0.1:9" in line and "backpack down (" in line
    assert took < 60


@pytest.mark.parametrize("cmd, url, cause", [
    (["run", "--duration", "5"], "nosuchdb://x/y", "Can't load plugin"),
    (["status"], "postgresql+asyncpg://perpdex:hunter2@127.0.0.1:9/perpdex", "Connect call failed"),
    (["run", "--duration", "5"], "postgresql+asyncpg://perpdex:hunter2@127.0.0.1:9/perpdex", "Connect call failed"),
    (["accounts", "list"], "sqlite+aiosqlite:////proc/perpdex-nope/x.db", "unable to open database file"),
    (["run", "--duration", "5"], "sqlite+aiosqlite:////proc/perpdex-nope/x.db", "unable to open database file"),
])
def test_run_status_accounts_name_storage_url_when_the_store_cannot_open(tmp_path, cmd, url, cause):
    cfg = config(tmp_path, {"aster": {}, "backpack": {}}, storage=url)
    proc, took = run([*cmd, "--config", str(cfg)])
    line = one_error_line(proc)
    assert proc.returncode == 1 and line.startswith("error: config field 'storage.url': cannot open the store: ")
    assert cause in line and "hunter2" not in proc.stderr + proc.stdout
    assert took < 60


def test_a_database_server_that_never_answers_fails_in_bounded_time(tmp_path, silent_port):
    url = f"postgresql+asyncpg://perpdex:hunter2@127.0.0.1:{silent_port}/perpdex"
    proc, took = run(["run", "--config", str(config(tmp_path, {"aster": {}}, storage=url)), "--duration", "5"])
    line = one_error_line(proc)
    assert proc.returncode == 1 and "storage.url" in line and "did not answer in time" in line
    assert took < 40  # asyncpg's own default would wait 60 s
    proc, _ = run(["db", "current", "--db", url])
    assert proc.returncode == 1 and "storage.url" in one_error_line(proc) and "hunter2" not in proc.stderr


def test_bad_config_paths_and_duration_get_one_line(tmp_path):
    binary = tmp_path / "binary.yml"
    binary.write_bytes(bytes(range(256)))
    for path, what in ((tmp_path, "is not a file"), (binary, "is not a text file"), (tmp_path / "nope.yml", "does not exist")):
        proc, _ = run(["status", "--config", str(path)])
        line = one_error_line(proc)
        assert proc.returncode == 2 and line == f"error: config field '<file>': {path} {what}" + (
            " (YAML expected)" if what == "is not a text file" else "")
    cfg = config(tmp_path, {"aster": {}, "backpack": {}})
    for bad in ("0", "-5"):
        proc, _ = run(["run", "--config", str(cfg), "--duration", bad])
        assert proc.returncode == 2 and "--duration must be a positive number of seconds" in one_error_line(proc)


def test_accounts_add_refuses_a_malformed_credential_naming_the_field(tmp_path):
    key = tmp_path / "master.key"
    assert run(["accounts", "keygen", str(key)])[0].returncode == 0
    creds = tmp_path / "bp.yml"
    creds.write_text(yaml.safe_dump({"api_key": "A" * 43 + "=", "api_secret": "this is not base64"}))
    proc, _ = run(["accounts", "add", "alice", "--exchange", "backpack", "--from-file", str(creds),
                   "--key-file", str(key), "--db", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"])
    line = one_error_line(proc)
    assert proc.returncode == 2 and line == "error: backpack credentials: field api_secret: not base64"


def test_a_bot_with_one_exchange_down_opens_collects_and_closes_on_the_others_across_a_restart(tmp_path):
    """lighter refuses every connection; the bot trades backpack/paradex (the scenario's outlier):
    opens a pair and collects funding; restarted with lighter still down while holding it, it
    starts, watches and closes the pair."""
    exchanges = {"aster": {}, "lighter": REFUSED, "backpack": {}, "paradex": {}}
    first = config(tmp_path, exchanges)
    proc, _ = run(["run", "--config", str(first), "--duration", "11"], timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    out = proc.stdout
    assert "lighter is down: [lighter] GET http://127.0.0.1:9" in out
    assert "on aster, backpack, paradex" in out and "lighter is down ([lighter]" in out
    assert "opened #1 0G: long 680 on backpack" in out and "short 680 on paradex" in out, out
    assert "funding #1 0G on" in out
    restart = config(tmp_path, exchanges, exit={"min_spread_apr": 0.05, "max_age_s": 1})
    proc, _ = run(["run", "--config", str(restart), "--duration", "6"], timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    out = proc.stdout
    assert "resumed 1 open position(s): #1 0G" in out and "closed #1 0G" in out, out
