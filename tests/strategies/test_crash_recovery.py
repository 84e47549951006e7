"""Crash recovery (issue 6 part 4): the bot is killed with SIGKILL while a position is open and while
an execution is in flight; the emulated exchanges keep running (in this process, on loopback) and
the bot is started again from the same database.

After the restart, checked against the exchanges' own books of record (the emulator's accounts):
nothing is lost (every executed quantity is in storage), nothing is duplicated (one position row,
no fill stored twice), and the exposure ends flat or hedged (long leg == short leg in tokens, and
the stored position says so).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import yaml

from perpdex.sim.server import start_emulators

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [str(Path(sys.executable).with_name("perpdex"))]
LONG, SHORT, SYMBOL = "backpack", "lighter", "0G"  # the default scenario's widest spread on this pair
D = Decimal


def write_config(path: Path, cluster, db: Path, **exit_rules) -> Path:
    cfg = {
        "sim": {"enabled": False},
        "exchanges": {
            name: {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"], "options": {"ccxt": ep["ccxt"]}}
            for name, ep in cluster.endpoints.items()
        },
        "strategy": {
            "size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "scan_interval_s": 0.5, "limit_timeout_s": 1.0,
            "max_positions": 1, "min_volume_24h_usd": 1_000_000, "reentry_cooldown_s": 3600,
            "exit": {"max_age_s": 3600, "min_spread_apr": 0.05, **exit_rules},
        },
        "storage": {"url": f"sqlite+aiosqlite:///{db}"},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_bot(cfg: Path, log: Path, duration: float) -> subprocess.Popen:
    return subprocess.Popen([*PERPDEX, "run", "--config", str(cfg), "--duration", str(duration), "-v"],
                            cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


def rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


async def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"bot exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


async def wait_exit(proc: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
        raise AssertionError("bot did not stop within its --duration")
    return proc.returncode


def venue_state(cluster, name: str) -> tuple[D, D, int]:
    """(signed position in the venue's own units, total traded quantity, open orders) of the bot's
    account on ``name`` (the only account that traded); the backstops (untriggered reduce-only
    stops, checked by :func:`resting_stops`) are not counted as open orders."""
    venue = cluster.sim.venues[name]
    accts = [a for a in venue.accounts.values() if a.fills]
    assert len(accts) <= 1, f"{name}: more than one account traded"
    if not accts:
        return D(0), D(0), 0
    acct = accts[0]
    pos = acct.positions.get(SYMBOL)
    traded = sum((D(str(f.qty)) for f in acct.fills), D(0))
    orders = [o for o in venue.open_orders(acct.id) if o.status != "untriggered"]
    return D(str(pos.qty)) if pos else D(0), traded, len(orders)


def resting_stops(cluster, name: str) -> list:
    """The untriggered stop orders (backstops) resting on ``name`` for any of our accounts."""
    venue = cluster.sim.venues[name]
    return [o for a in venue.accounts.values() for o in venue.open_orders(a.id) if o.status == "untriggered"]


def stored(db: Path) -> tuple[list[tuple], dict[str, D]]:
    positions = rows(db, "select id, status, quantity, long_exchange, short_exchange from positions")
    traded: dict[str, D] = {}
    for ex, qty in rows(db, "select exchange, quantity from fills"):
        traded[ex] = traded.get(ex, D(0)) + D(qty)
    return positions, traded


def assert_consistent(cluster, db: Path, *, expect_open: bool | None) -> None:
    """Exposure flat or hedged on the exchanges, and storage agrees with them."""
    long_pos, long_traded, long_orders = venue_state(cluster, LONG)
    short_pos, short_traded, short_orders = venue_state(cluster, SHORT)
    positions, traded = stored(db)
    assert len(positions) == 1, f"expected exactly one position row, got {positions}"
    pid, status, qty, lx, sx = positions[0]
    assert (lx, sx) == (LONG, SHORT)
    assert long_orders == 0 and short_orders == 0, "open orders left behind"
    # hedged or flat: the long leg's tokens equal the short leg's (both venues list 0G in tokens)
    assert long_pos == -short_pos, f"not delta-neutral: {LONG} {long_pos}, {SHORT} {short_pos}"
    if long_pos != 0:
        assert status == "open" and D(qty) == long_pos, f"exchanges hold {long_pos} per leg, storage says {status} {qty}"
        # a backstop never larger than its leg, reduce-only (at most one per leg: the bot may have
        # been killed before placing it)
        for name, held in ((LONG, long_pos), (SHORT, short_pos)):
            stops = resting_stops(cluster, name)
            assert len(stops) <= 1 and all(o.reduce_only and D(str(o.qty)) <= abs(held) for o in stops), (name, stops)
    else:
        assert status in ("closed", "failed"), f"flat on the exchanges but stored as {status}"
        assert not resting_stops(cluster, LONG) and not resting_stops(cluster, SHORT), "backstops left behind"
    if expect_open is not None:
        assert (long_pos != 0) is expect_open
    # nothing lost, nothing duplicated: storage holds exactly what the exchanges executed
    assert traded.get(LONG, D(0)) == long_traded, f"{LONG}: stored fills {traded.get(LONG)} != executed {long_traded}"
    assert traded.get(SHORT, D(0)) == short_traded, f"{SHORT}: stored fills {traded.get(SHORT)} != executed {short_traded}"


async def test_kill_9_while_a_position_is_open_then_restart_resumes_and_closes(tmp_path):
    cluster = await start_emulators([LONG, SHORT], seed=42, funding_time_scale=720)
    db = tmp_path / "bot.db"
    try:
        cfg = write_config(tmp_path / "a.yml", cluster, db)
        proc = start_bot(cfg, tmp_path / "run1.log", duration=90)
        await wait_for(lambda: [r for r in rows(db, "select status from positions") if r[0] == "open"], 60,
                       "an open position", proc, tmp_path / "run1.log")
        os.kill(proc.pid, signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
        assert_consistent(cluster, db, expect_open=True)  # the kill changed nothing on the exchanges

        # restart: resumes monitoring the stored position, no second position, closes on max age
        cfg = write_config(tmp_path / "b.yml", cluster, db, max_age_s=1)
        proc = start_bot(cfg, tmp_path / "run2.log", duration=12)
        assert await wait_exit(proc, 60) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        log = (tmp_path / "run2.log").read_text()
        assert "resumed 1 open position" in log
        assert_consistent(cluster, db, expect_open=False)
    finally:
        await cluster.stop()


async def test_kill_9_during_an_execution_in_flight_then_restart_ends_flat_or_hedged(tmp_path):
    cluster = await start_emulators([LONG, SHORT], seed=42, funding_time_scale=720)
    db = tmp_path / "bot.db"
    try:
        # the short leg's order is executed by the exchange, but its answer is held back: the bot
        # is mid-execution (row 'opening', fills not all known) when it is killed
        cluster.sim.venues[SHORT].faults.inject("ack_late", count=5, value=30.0)
        cfg = write_config(tmp_path / "a.yml", cluster, db)
        proc = start_bot(cfg, tmp_path / "run1.log", duration=90)

        def in_flight() -> bool:
            opening = [r for r in rows(db, "select status from positions") if r[0] == "opening"]
            return bool(opening) and venue_state(cluster, SHORT)[0] != 0

        await wait_for(in_flight, 60, "an execution in flight", proc, tmp_path / "run1.log")
        os.kill(proc.pid, signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
        cluster.sim.venues[SHORT].faults._pending.clear()  # the exchange answers normally again
        positions, _ = stored(db)
        assert [p[1] for p in positions] == ["opening"]

        cfg = write_config(tmp_path / "b.yml", cluster, db)
        proc = start_bot(cfg, tmp_path / "run2.log", duration=8)
        assert await wait_exit(proc, 60) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        log = (tmp_path / "run2.log").read_text()
        assert "from the exchanges' fill history" in log  # the unanswered execution was recovered
        assert_consistent(cluster, db, expect_open=None)
        [(status, entry_long, entry_short)] = rows(db, "select status, entry_long_price, entry_short_price from positions")
        if status == "open":  # adopted: entry prices from the recovered fills
            assert entry_long and entry_short, "adopted position without entry prices"
    finally:
        await cluster.stop()
