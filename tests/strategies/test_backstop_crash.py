"""Backstops when it matters (issue 13): a ``perpdex run`` subprocess with an open pair, the emulated
exchanges in the test process (the crash-recovery harness), the price moved through the long
leg's backstop so that the exchange itself closes that leg.

* killed with SIGKILL first: the restarted bot finds the leg gone, sees in the fill history that it
  was the backstop, closes the other leg before anything else, records both legs' fills, and
  leaves no order (plain or conditional) behind;
* while the bot runs: the backstop's fill arrives on the user stream and the other leg is closed
  at once; the delay between the two fills (the emulator's own timestamps) is printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal
from pathlib import Path

import yaml

from perpdex.sim.server import start_emulators
from tests.strategies.test_crash_recovery import (
    LONG,
    SHORT,
    SYMBOL,
    resting_stops,
    rows,
    start_bot,
    stored,
    venue_state,
    wait_exit,
    wait_for,
    write_config,
)

D = Decimal


def config(path: Path, cluster, db: Path) -> Path:
    """The crash-recovery config with backstops halfway to liquidation (the default, said aloud)."""
    write_config(path, cluster, db)
    cfg = yaml.safe_load(path.read_text())
    cfg["strategy"]["backstop"] = {"enabled": True, "fraction_to_liquidation": 0.5}
    path.write_text(yaml.safe_dump(cfg))
    return path


def both_backstops_resting(db: Path) -> bool:
    return len(rows(db, "select id from backstops where state = 'resting'")) == 2


def fire_long_backstop(cluster, db: Path) -> None:
    """Move the long venue's price just through its resting backstop (well above the leg's
    liquidation price)."""
    [(trigger,)] = rows(db, "select trigger_price from backstops where state = 'resting' and leg = 'long'")
    venue = cluster.sim.venues[LONG]
    venue.index.prices[SYMBOL] *= float(trigger) / venue.mark_price(SYMBOL) * 0.98


def stop_fill_ms(cluster) -> int:
    """When the long leg's backstop executed (the emulator's fill time, ms)."""
    venue = cluster.sim.venues[LONG]
    fills = [f for a in venue.accounts.values() for f in a.fills
             if a.orders.get(f.order_id) is not None and a.orders[f.order_id].type == "stop_market"]
    assert fills, "the backstop did not execute"
    return min(f.ts for f in fills)


def assert_closed_by_backstop(cluster, db: Path) -> None:
    """Flat on both exchanges, the pair closed naming the backstop and its leg, every executed
    quantity stored once, nothing resting anywhere."""
    long_pos, long_traded, long_orders = venue_state(cluster, LONG)
    short_pos, short_traded, short_orders = venue_state(cluster, SHORT)
    assert long_pos == 0 and short_pos == 0, (long_pos, short_pos)
    assert long_orders == 0 and short_orders == 0, "orders left behind"
    assert not resting_stops(cluster, LONG) and not resting_stops(cluster, SHORT), "backstops left behind"
    [(status, reason)] = rows(db, "select status, close_reason from positions")
    assert status == "closed" and reason.startswith(f"backstop: {LONG} long leg stopped at "), (status, reason)
    _, traded = stored(db)
    assert traded.get(LONG) == long_traded and traded.get(SHORT) == short_traded, (traded, long_traded, short_traded)
    states = {s for (s,) in rows(db, "select state from backstops")}
    assert "fired" in states and not states & {"resting", "placing"}, states


async def test_kill_9_then_the_backstop_fires_and_the_restart_closes_the_survivor_first(tmp_path):
    cluster = await start_emulators([LONG, SHORT], seed=42, funding_time_scale=720)
    db = tmp_path / "bot.db"
    try:
        proc = start_bot(config(tmp_path / "a.yml", cluster, db), tmp_path / "run1.log", duration=90)
        await wait_for(lambda: both_backstops_resting(db), 60, "both backstops resting", proc, tmp_path / "run1.log")
        os.kill(proc.pid, signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
        assert len(resting_stops(cluster, LONG)) == len(resting_stops(cluster, SHORT)) == 1  # left on the exchanges

        fire_long_backstop(cluster, db)
        deadline = time.monotonic() + 20
        while venue_state(cluster, LONG)[0] != 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert venue_state(cluster, LONG)[0] == 0, "the exchange did not close the long leg"
        assert venue_state(cluster, SHORT)[0] != 0  # the short leg is naked while the bot is down

        proc = start_bot(config(tmp_path / "b.yml", cluster, db), tmp_path / "run2.log", duration=8)
        assert await wait_exit(proc, 60) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        log = (tmp_path / "run2.log").read_text()
        assert_closed_by_backstop(cluster, db)
        # before anything else: the close comes before the first scan of the new run
        closing, fired = log.find("closing #1 0G: backstop"), log.find("backstop fired: #1 0G long leg")
        assert 0 <= fired < closing, log[-3000:]
        first_scan = log.find("opportunity ")
        assert first_scan == -1 or closing < first_scan, log[-3000:]
    finally:
        await cluster.stop()


async def test_the_backstop_fires_while_perpdex_runs_and_the_survivor_is_closed_at_once(tmp_path):
    cluster = await start_emulators([LONG, SHORT], seed=42, funding_time_scale=720)
    db = tmp_path / "bot.db"
    try:
        proc = start_bot(config(tmp_path / "a.yml", cluster, db), tmp_path / "run.log", duration=40)
        await wait_for(lambda: both_backstops_resting(db), 60, "both backstops resting", proc, tmp_path / "run.log")
        fire_long_backstop(cluster, db)
        await wait_for(lambda: [r for r in rows(db, "select status from positions") if r[0] == "closed"], 30,
                       "the pair closed", proc, tmp_path / "run.log")
        os.kill(proc.pid, signal.SIGTERM)
        await wait_exit(proc, 30)
        assert_closed_by_backstop(cluster, db)
        short = cluster.sim.venues[SHORT]
        close_ms = max(f.ts for a in short.accounts.values() for f in a.fills if f.side == "buy")
        delay = (close_ms - stop_fill_ms(cluster)) / 1000
        print(f"\nsurvivor closed {delay:.3f} s after the backstop fill")
        assert 0 <= delay <= 5.0, f"survivor closed {delay:.3f} s after the backstop fill"
    finally:
        await cluster.stop()
