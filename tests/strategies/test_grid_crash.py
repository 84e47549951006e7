"""Crash recovery of the grid: a real ``perpdex run`` subprocess with one ``grid`` entry in
``strategies:``, against an emulated Lighter running in this process (loopback), is killed with
SIGKILL and started again from the same database.

Checked after the restart against the emulator's own account (its book of record), not the bot's
view: the invariant (the emulator's position == the remaining sizes of the reduce-only
take-profits resting there, within one lot), no order duplicated (one take-profit per covered
quantity: no two resting orders with the same client id, the resting take-profits add up to the
position, not more), nothing lost or stored twice (every emulator fill is stored once in
``order_fills``, the stored fills add up to the position) and no orphan (every resting order is a
live row of the grid in storage).

1. killed with take-profits resting; one take-profit fills while the bot is down;
2. killed while a take-profit's answer is in flight (``ack_late``: the emulator rests the order
   and holds its answer back), so the row is stored ``pending`` when the process dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

from perpdex.sim.server import start_emulators
from tests.strategies.test_crash_recovery import rows, start_bot, wait_exit, wait_for

EXCHANGE, SYMBOL = "lighter", "ETH"
NAME = "grid-lighter-eth"
D = Decimal


def write_config(path: Path, cluster, db: Path) -> Path:
    ep = cluster.endpoints[EXCHANGE]
    cfg = {
        "sim": {"enabled": False},
        "exchanges": {EXCHANGE: {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"], "options": {"ccxt": ep["ccxt"]}}},
        "strategies": [{
            "kind": "grid", "exchange": EXCHANGE, "symbol": SYMBOL, "direction": "buy", "order_notional_usd": 60,
            "take_profit": 0.002, "max_orders": 4, "wait_time_s": 0, "entry_timeout_s": 60, "cycle_interval_s": 0.2,
            "order_timeout_s": 2.0, "leverage": 3,
        }],
        "storage": {"url": f"sqlite+aiosqlite:///{db}"},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


async def start_cluster():
    cluster = await start_emulators([EXCHANGE], seed=42, price_time_scale=1e-6)
    cluster.sim.tick = 0.05
    cluster.sim.venue(EXCHANGE).passive_fill_prob = 0.0  # fills only when the market crosses
    return cluster


def move(cluster, factor: float) -> None:
    cluster.sim.index.prices[SYMBOL] *= factor


def account(cluster):
    venue = cluster.sim.venue(EXCHANGE)
    accts = [a for a in venue.accounts.values() if a.orders]
    assert len(accts) == 1, f"expected one trading account, got {len(accts)}"
    return venue, accts[0]


def resting_tps(cluster) -> list:
    venue = cluster.sim.venue(EXCHANGE)
    if not any(a.orders for a in venue.accounts.values()):
        return []
    venue, acct = account(cluster)
    return [o for o in venue.open_orders(acct.id, SYMBOL) if o.reduce_only]


def position(cluster) -> D:
    _, acct = account(cluster)
    pos = acct.positions.get(SYMBOL)
    return D(str(pos.qty)) if pos else D(0)


def assert_recovered(cluster, db: Path) -> None:
    venue, acct = account(cluster)
    lot = D(str(venue.markets[SYMBOL].lot))
    opens = venue.open_orders(acct.id, SYMBOL)
    tps = [o for o in opens if o.reduce_only]
    pos = position(cluster)
    resting = sum((D(str(o.qty)) - D(str(o.filled)) for o in tps), D(0))
    assert abs(abs(pos) - resting) < lot, (f"invariant: position {pos}, resting take-profits {resting} "
                                           f"{[(o.client_id, o.qty, o.filled) for o in tps]}")
    dup = [c for c, n in Counter(o.client_id for o in opens).items() if n > 1]
    assert not dup, f"orders duplicated: {dup}"
    live = {cid: (role, status) for cid, role, status in
            rows(db, f"select client_order_id, role, status from orders where strategy = '{NAME}'")
            if status in ("pending", "uncertain", "open", "partially_filled")}
    for o in opens:
        assert o.client_id in live, f"orphan: {o.side} {o.qty} @ {o.price} ({o.client_id}) is no live row of the grid"
        assert (live[o.client_id][0] == "take_profit") == o.reduce_only, (o.client_id, live[o.client_id])
    emu = sorted(str(f.trade_id) for f in acct.fills if f.symbol == SYMBOL)
    stored = rows(db, f"select trade_id, side, quantity from order_fills where strategy = '{NAME}'")
    assert sorted(t for t, _, _ in stored) == emu, f"fills: emulator {emu}, stored {sorted(t for t, _, _ in stored)}"
    held = sum((D(q) if s == "buy" else -D(q) for _, s, q in stored), D(0))
    assert held == pos, f"stored fills add up to {held}, the emulator holds {pos}"


async def fill_entries(cluster, db: Path, proc, log: Path, want: int) -> None:
    """Move the market down through the grid's entries until ``want`` take-profits rest."""
    for _ in range(12):
        if len(resting_tps(cluster)) >= want:
            return
        await wait_for(lambda: rows(db, f"select id from orders where strategy = '{NAME}' and role = 'entry' "
                                         "and status = 'open'"), 30, "a resting entry", proc, log)
        move(cluster, 0.9993)
        await wait_for(lambda: not rows(db, f"select id from orders where strategy = '{NAME}' and role = 'entry' "
                                             "and status = 'open'") or len(resting_tps(cluster)) >= want,
                       10, "the entry filled", proc, log)
        await asyncio.sleep(0.3)
    raise AssertionError(f"only {len(resting_tps(cluster))} take-profits rest:\n{log.read_text()[-3000:]}")


async def test_kill_9_with_take_profits_resting_then_restart(tmp_path):
    cluster = await start_cluster()
    db = tmp_path / "grid.db"
    try:
        cfg = write_config(tmp_path / "grid.yml", cluster, db)
        log1 = tmp_path / "run1.log"
        proc = start_bot(cfg, log1, duration=120)
        await fill_entries(cluster, db, proc, log1, want=3)
        await asyncio.sleep(0.5)  # the last take-profit's answer stored
        os.kill(proc.pid, signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
        before = resting_tps(cluster)
        assert len(before) >= 3
        assert_recovered(cluster, db)  # the kill changed nothing on the exchange

        # while the bot is down the market rises through the lowest take-profit: it fills unseen
        lowest = min(o.price for o in before)
        move(cluster, lowest / cluster.sim.index.prices[SYMBOL] * 1.0004)
        await asyncio.sleep(0.5)
        after = resting_tps(cluster)
        assert 0 < len(after) < len(before), (len(before), len(after))

        log2 = tmp_path / "run2.log"
        proc = start_bot(cfg, log2, duration=6)
        assert await wait_exit(proc, 60) == 0, log2.read_text()[-3000:]
        text = log2.read_text()
        assert f"{len(before)} order(s) recovered" in text, text[-3000:]
        assert_recovered(cluster, db)
        assert {o.client_id for o in after} <= {o.client_id for o in resting_tps(cluster)}  # recovered, not replaced
    finally:
        await cluster.stop()


async def test_kill_9_while_a_take_profit_answer_is_in_flight_then_restart(tmp_path):
    cluster = await start_cluster()
    db = tmp_path / "grid.db"
    venue = cluster.sim.venue(EXCHANGE)
    try:
        cfg = write_config(tmp_path / "grid.yml", cluster, db)
        log1 = tmp_path / "run1.log"
        proc = start_bot(cfg, log1, duration=120)
        await fill_entries(cluster, db, proc, log1, want=1)
        await wait_for(lambda: rows(db, f"select id from orders where strategy = '{NAME}' and role = 'entry' "
                                         "and status = 'open'"), 30, "a resting entry", proc, log1)
        # the next order is the take-profit of the entry about to fill: the emulator rests it and
        # holds its answer back past the bot's life
        venue.faults.inject("ack_late", symbol=SYMBOL, value=60.0)
        move(cluster, 0.9993)
        await wait_for(lambda: len(resting_tps(cluster)) >= 2, 10, "the second take-profit resting", proc, log1)
        # its row was stored before it was sent: still 'pending' (no answer), or already 'open' when the
        # user stream reported the order first; either way the answer is in flight when the bot dies
        await wait_for(lambda: len(rows(db, f"select id from orders where strategy = '{NAME}' and role = 'take_profit' "
                                              "and status in ('pending', 'open')")) >= 2, 5,
                       "the take-profit stored", proc, log1)
        os.kill(proc.pid, signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
        venue.faults.clear()
        in_flight = {o.client_id for o in resting_tps(cluster)}

        log2 = tmp_path / "run2.log"
        proc = start_bot(cfg, log2, duration=5)
        assert await wait_exit(proc, 60) == 0, log2.read_text()[-3000:]
        assert_recovered(cluster, db)
        assert in_flight <= {o.client_id for o in resting_tps(cluster)}  # the in-flight one adopted, not re-sent
        assert not rows(db, f"select id from orders where strategy = '{NAME}' and status in ('pending', 'uncertain') "
                            "and role = 'take_profit'")
    finally:
        await cluster.stop()
