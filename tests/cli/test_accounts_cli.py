"""``perpdex accounts`` and ``perpdex run --account`` as a user runs them (real subprocesses, real
SQLite, the in-process emulator): two accounts trade apart on one database, and no credential
value nor the master key reaches any output, log line (DEBUG), report or the database file (E11)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]
LIGHTER_KEY = "0x61849c4cc5d64ac19ae3071b2088972a41ba5e3d6dc5ebc1aed2bd75bc9bb076e0eae0758124"  # + 4 hex below


def _backpack_credentials(seed_byte: int) -> dict[str, str]:
    seed = bytes([seed_byte]) * 32
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"api_key": base64.b64encode(public).decode(), "api_secret": base64.b64encode(seed).decode()}


CREDS = {
    "alice": {"backpack": _backpack_credentials(0x11),
              "lighter": {"account_index": 700001, "api_key_index": 5, "api_private_key": LIGHTER_KEY + "761d"}},
    "bob": {"backpack": _backpack_credentials(0x22),
            "lighter": {"account_index": 700002, "api_key_index": 6, "api_private_key": LIGHTER_KEY + "762e"}},
}


def _forms(secret: str) -> list[str]:
    """The ways a secret could be printed: as given, without 0x, and its decoded bytes in hex."""
    out = [secret, secret.removeprefix("0x")]
    try:
        out.append(base64.b64decode(secret, validate=True).hex())
    except (binascii.Error, ValueError):
        pass
    return out


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_")}
    env["COLUMNS"] = "300"  # rich wraps error lines at 80 columns in a pipe otherwise
    env.update(extra)
    return env


class Cli:
    """Runs perpdex and keeps every byte it printed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.printed: list[str] = []

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([*PERPDEX, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                             input=input, env={**self.env, **(env or {})})
        self.printed += [res.stdout, res.stderr]
        return res


class InProcessCli(Cli):
    """The same commands through typer's CliRunner (no interpreter start-up per command)."""

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        from typer.testing import CliRunner

        from perpdex.cli.main import app

        res = CliRunner().invoke(app, list(args), input=input, env={**self.env, **(env or {})})
        self.printed += [res.stdout, res.stderr]
        return subprocess.CompletedProcess(list(args), res.exit_code, res.stdout, res.stderr)


def _config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["sim"]["funding_time_scale"] = 3600
    data["exchanges"] = {"backpack": {}, "lighter": {}, "aster": {"enabled": False}, "paradex": {"enabled": False}}
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    # positions stay open when a run ends: the next account's run must neither see nor touch them
    data["strategy"].update(scan_interval_s=0.5, max_positions=1, exit={"max_age_s": 3600, "min_spread_apr": 0.05})
    p = tmp_path / "cfg.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def _positions(db: Path) -> list[tuple[int, str | None, str, int, int]]:
    """(id, account, status, fills, funding payments) of every position."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT p.id, p.account, p.status, (SELECT count(*) FROM fills f WHERE f.position_id = p.id), "
            "(SELECT count(*) FROM funding_payments g WHERE g.position_id = p.id) FROM positions p ORDER BY p.id"
        ).fetchall()


def test_E11_two_accounts_trade_apart_and_no_secret_reaches_any_output(tmp_path):
    key_file = tmp_path / "master.key"
    cli = Cli(_env())
    res = cli("accounts", "keygen", str(key_file))
    assert res.returncode == 0, res.stderr
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    cli.env["PERPDEX_MASTER_KEY_FILE"] = str(key_file)
    cfg = _config(tmp_path)

    # every way of entering credentials: environment, file, stdin, hidden prompts
    alice, bob = CREDS["alice"], CREDS["bob"]
    res = cli("accounts", "add", "alice", "-x", "backpack", "--from-env", "-c", str(cfg),
              env={f"PERPDEX_BACKPACK_{k.upper()}": v for k, v in alice["backpack"].items()})
    assert res.returncode == 0, res.stderr
    (tmp_path / "lighter.json").write_text(json.dumps(alice["lighter"]))
    res = cli("accounts", "add", "alice", "-x", "lighter", "--from-file", str(tmp_path / "lighter.json"), "-c", str(cfg))
    assert res.returncode == 0, res.stderr
    (tmp_path / "lighter.json").unlink()
    res = cli("accounts", "add", "bob", "-x", "backpack", "--from-file", "-", "-c", str(cfg),
              input=yaml.safe_dump(bob["backpack"]))
    assert res.returncode == 0, res.stderr
    answers = [str(bob["lighter"][f]) for f in ("account_index", "api_key_index", "api_private_key")] + [""]
    res = cli("accounts", "add", "bob", "-x", "lighter", "-c", str(cfg), input="\n".join(answers) + "\n")
    assert res.returncode == 0, res.stderr

    res = cli("accounts", "list", "-c", str(cfg))
    assert res.returncode == 0, res.stderr
    assert "alice" in res.stdout and "bob" in res.stdout and "backpack" in res.stdout
    res = cli("accounts", "list", "-c", str(cfg), "--json")
    listing = {a["name"]: sorted(c["exchange"] for c in a["credentials"]) for a in json.loads(res.stdout)}
    assert listing == {"alice": ["backpack", "lighter"], "bob": ["backpack", "lighter"]}

    # alice trades first; her position is left open when the run ends
    res = cli("run", "-c", str(cfg), "--account", "alice", "-v", "-d", "6", "--report", str(tmp_path / "alice.json"),
              timeout=120)
    assert res.returncode == 0, res.stderr
    assert "DEBUG" in res.stderr and "account alice: credentials for backpack, lighter" in res.stdout
    db = tmp_path / "accounts.db"
    [alice_pos] = _positions(db)
    assert alice_pos[1:3] == ("alice", "open") and alice_pos[3] >= 2  # both legs filled (a leg may take several trades)

    # bob on the same database: does not count, resume or sync alice's open position (max_positions 1)
    res = cli("run", "-c", str(cfg), "--account", "bob", "-v", "-d", "6", "--report", str(tmp_path / "bob.json"),
              timeout=120)
    assert res.returncode == 0, res.stderr
    positions = _positions(db)
    assert positions[0] == alice_pos, "bob's bot touched alice's position"
    bob_positions = [p for p in positions if p[1] == "bob"]
    assert len(bob_positions) == 1 and len(positions) == 2 and bob_positions[0][3] >= 2
    reports = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in ("alice", "bob")}
    assert [p["id"] for p in reports["alice"]["positions"]] == [alice_pos[0]]
    assert [p["id"] for p in reports["bob"]["positions"]] == [bob_positions[0][0]]

    # nothing secret anywhere a user, a log collector or a database reader sees
    secrets = [form for acct in CREDS.values() for fields in acct.values() for v in fields.values()
               if isinstance(v, str) for form in _forms(v)]
    secrets += _forms(key_file.read_text().strip()) + [base64.urlsafe_b64decode(key_file.read_text().strip()).hex()]
    seen = "\n".join(cli.printed) + "\n" + json.dumps(reports, indent=1)
    lines = seen.splitlines()
    assert sum("DEBUG" in line for line in lines) > 100  # the debug log really was captured
    leaks = [(s[:6], line[:120]) for line in lines for s in secrets if s.lower() in line.lower()]
    assert leaks == []
    raw = db.read_bytes()
    assert [s[:6] for s in secrets if s.encode() in raw] == []


def test_E11_rotate_key_via_cli_and_a_wrong_key_is_refused_clearly(tmp_path):
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    cli = InProcessCli(_env())
    for path in (old, new):
        assert cli("accounts", "keygen", str(path)).returncode == 0
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'rot.db'}"]
    res = cli("accounts", "add", "alice", "-x", "backpack", "--from-file", "-", "-k", str(old), *db,
              input=json.dumps(CREDS["alice"]["backpack"]))
    assert res.returncode == 0, res.stderr
    old_id = json.loads(cli("accounts", "list", "--json", *db).stdout)[0]["credentials"][0]["key_id"]

    res = cli("accounts", "rotate-key", "--old-key-file", str(old), "--key-file", str(new), *db)
    assert res.returncode == 0, res.stderr
    assert "re-encrypted 1 credential set(s)" in res.stdout
    new_id = json.loads(cli("accounts", "list", "--json", *db).stdout)[0]["credentials"][0]["key_id"]
    assert new_id != old_id and new_id in res.stdout

    # the old key no longer opens anything: a clear error naming the key ids, nothing else
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(yaml.safe_dump({"exchanges": {"backpack": {}}, "sim": {"enabled": True},
                                   "storage": {"url": db[1]}}))
    res = cli("run", "-c", str(cfg), "--account", "alice", "-k", str(old), "-d", "1")
    assert res.returncode == 1
    assert f"master key does not match key_id {new_id}" in res.stderr and "Traceback" not in res.stderr
    res = cli("accounts", "add", "alice", "-x", "lighter", "--from-file", "-", "-k", str(old), *db,
              input=json.dumps(CREDS["alice"]["lighter"]))
    assert res.returncode == 1 and f"does not match key_id {new_id}" in res.stderr

    # a key file others can read is refused before anything is opened
    os.chmod(new, 0o644)
    res = cli("accounts", "add", "bob", "-x", "backpack", "--from-file", "-", "-k", str(new), *db,
              input=json.dumps(CREDS["bob"]["backpack"]))
    assert res.returncode == 2 and "chmod 600" in res.stderr
    res = cli("run", "-c", str(cfg), "--account", "alice", "-k", str(new), "-d", "1")
    assert res.returncode == 1 and "mode 0644" in res.stderr
    # and unknown names/fields are refused naming them
    os.chmod(new, 0o600)
    res = cli("accounts", "add", "bob", "-x", "backpack", "--from-file", "-", "-k", str(new), *db,
              input=json.dumps({**CREDS["bob"]["backpack"], "apiSecret": "zzzzzzzz"}))
    assert res.returncode == 2 and "unknown field(s) apiSecret" in res.stderr
    res = cli("run", "-c", str(cfg), "--account", "carol", "-k", str(new), "-d", "1")
    assert res.returncode == 1 and "no account named 'carol'" in res.stderr

    secrets = [f for acct in CREDS.values() for fields in acct.values() for v in fields.values()
               if isinstance(v, str) for f in _forms(v)] + [old.read_text().strip(), new.read_text().strip()]
    seen = "\n".join(cli.printed)
    assert [s[:6] for s in secrets if s in seen] == []
