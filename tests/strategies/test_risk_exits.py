"""Holding risk against the emulated exchanges: a leg liquidated or auto-deleveraged by its
exchange closes the other one (and the reason is recorded), a leg too close to its liquidation
price closes the pair, a flipped funding spread closes the pair."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.execution.liquidation import liquidation_distance
from perpdex.models import ExchangePositionSnapshot, Side
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy
from perpdex.strategies.risk import LegState, near_liquidation, reduced_leg
from tests.waiting import eventually

D = Decimal


@contextlib.asynccontextmanager
async def opened(tmp_path, **strategy: Any) -> AsyncIterator[tuple[Any, FundingArbStrategy, Any]]:
    """A 0G pair (long Aster, short Lighter, 3x) opened by the strategy on the emulator."""
    cfg = parse_config({
        "sim": {"enabled": True, "seed": 42, "funding_time_scale": 720},
        "exchanges": {"aster": {}, "lighter": {}},
        "strategy": {"size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "symbols": ["0G"], "limit_timeout_s": 1.0,
                     "exit": {"max_age_s": 3600, "min_spread_apr": 0.05}, **strategy},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'risk.db'}"},
    })
    store = Store(cfg.storage.url)
    await store.init()
    try:
        async with runtime(cfg) as rt:
            strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
            await strat.start()
            report = await strat.cycle()
            assert len(report.opened) == 1, report
            [pos] = await store.positions(["open"])
            yield rt, strat, pos
    finally:
        await store.close()



async def flat(client, symbol: str = "0G") -> bool:
    return await client.fetch_position(symbol) is None


async def test_a_leg_liquidated_by_the_exchange_closes_the_other_and_records_why(tmp_path):
    async with opened(tmp_path) as (rt, strat, pos):
        aster, lighter = rt.clients["aster"], rt.clients["lighter"]
        assert not await flat(aster) and not await flat(lighter)
        rt.cluster.sim.venue("lighter").faults.inject("liquidate", symbol="0G")  # the short leg is liquidated
        await eventually(lambda: flat(lighter))
        assert not await flat(aster)  # the long leg is naked now ...
        report = await strat.cycle()
        assert report.closed == [pos.id]  # ... until the next cycle closes it
        assert await flat(aster)
        row = await strat.store.position(pos.id)
        assert row.status == "closed"
        assert row.close_reason == f"lighter leg liquidated/ADL: size {pos.quantity.normalize():f} -> 0"
        # the liquidation shows in the exchange's own fill data: a reduce-only system order
        venue = rt.cluster.sim.venue("lighter")
        [acct] = [a for a in venue.accounts.values() if a.fills]
        assert [f.system for f in acct.fills][-1] == "liquidation"


async def test_a_leg_auto_deleveraged_in_part_closes_the_pair(tmp_path):
    async with opened(tmp_path) as (rt, strat, pos):
        aster, lighter = rt.clients["aster"], rt.clients["lighter"]
        rt.cluster.sim.venue("aster").faults.inject("adl", symbol="0G", value=0.5)  # half the long leg taken

        async def halved() -> bool:
            snap = await aster.fetch_position("0G")
            return snap is not None and snap.quantity < pos.quantity
        await eventually(halved)
        left = (await aster.fetch_position("0G")).quantity
        report = await strat.cycle()
        assert report.closed == [pos.id]
        assert await flat(aster) and await flat(lighter)
        row = await strat.store.position(pos.id)
        assert row.close_reason == f"aster leg liquidated/ADL: size {pos.quantity.normalize():f} -> {left.normalize():f}"


async def test_liquidation_distance_exit_from_the_exchanges_own_numbers(tmp_path):
    # perpdex's own exit rule, so the exchange-side backstop (halfway to liquidation: it would fire
    # first on this move, see tests/runtime/test_backstops.py) is off here
    async with opened(tmp_path, min_liquidation_distance=0.15, exit={"max_age_s": 3600, "min_liquidation_distance": 0.10},
                      backstop={"enabled": False}) as (rt, strat, pos):
        aster = rt.clients["aster"]
        before = await aster.fetch_position("0G")
        assert liquidation_distance(before.liquidation_price, before.mark_price, Side.BUY) > D("0.15")
        assert await strat.risk_reason(pos) is None
        # the market falls towards the long leg's liquidation price (still above it: no liquidation)
        rt.cluster.sim.index.prices["0G"] = float(before.liquidation_price) / 0.93

        async def close_to_liquidation() -> bool:
            s = await aster.fetch_position("0G")
            return s is not None and liquidation_distance(s.liquidation_price, s.mark_price, Side.BUY) < D("0.10")
        await eventually(close_to_liquidation)
        report = await strat.cycle()
        assert report.closed == [pos.id]
        row = await strat.store.position(pos.id)
        assert row.close_reason.startswith("long leg on aster: liquidation ")
        assert row.close_reason.endswith("minimum 10%")
        assert await flat(aster) and await flat(rt.clients["lighter"])


async def test_funding_flip_closes_the_pair(tmp_path):
    async with opened(tmp_path) as (rt, strat, pos):
        # Aster's rate turns strongly positive: the long leg now pays more than the short receives
        rt.cluster.sim.venue("aster").set_funding_rate("0G", 0.004)
        report = await strat.cycle()
        assert report.closed == [pos.id]
        row = await strat.store.position(pos.id)
        assert row.close_reason.startswith("spread flipped")


def test_reduced_leg_and_near_liquidation_rules():
    def snap(qty: str, liq: str | None = None, mark: str = "100") -> ExchangePositionSnapshot:
        return ExchangePositionSnapshot("x", "BTC", D(qty), D(100), D(mark), liquidation_price=D(liq) if liq else None)

    held = [LegState("long", "a", D(2), D(1), snap("2", "80")), LegState("short", "b", D(2), D(1), snap("-2", "120"))]
    assert reduced_leg(held) is None and near_liquidation(held, D("0.1")) is None
    # bundled units: 0.002 exchange units of 1000 tokens each are the 2 tokens we hold
    assert reduced_leg([LegState("long", "a", D(2), D(1000), snap("0.002"))]) is None
    assert reduced_leg([held[0], LegState("short", "b", D(2), D(1), None)]) == "b leg liquidated/ADL: size 2 -> 0"
    assert reduced_leg([LegState("long", "a", D(2), D(1), snap("-1"))]) == "a leg liquidated/ADL: size 2 -> 0"  # flipped
    near = [LegState("short", "b", D(2), D(1), snap("-2", "104"))]
    assert near_liquidation(near, D("0.05")) == "short leg on b: liquidation 4.0% from mark (104 vs mark 100), minimum 5%"
    assert near_liquidation(near, D(0)) is None  # disabled


async def test_a_liquidation_on_the_user_stream_wakes_the_strategy_before_the_next_scan(tmp_path):
    # scans 60 s apart: only the liquidation event reported by the user stream can close the pair in time
    async with opened(tmp_path, scan_interval_s=60) as (rt, strat, pos):
        aster, lighter = rt.clients["aster"], rt.clients["lighter"]
        for client in (aster, lighter):
            stream = await client.start_user_stream(["0G"])
            assert await stream.wait_connected(5)
        stop = asyncio.Event()
        task = asyncio.create_task(strat.run(stop=stop))
        try:
            await eventually(lambda: strat.store.positions(["open"]))  # the first cycle ran (the pair stays open)
            await asyncio.sleep(0.3)
            rt.cluster.sim.venue("lighter").faults.inject("liquidate", symbol="0G")
            await eventually(lambda: flat(aster), timeout=20)
        finally:
            stop.set()
            await task
        row = await strat.store.position(pos.id)
        assert row.status == "closed" and row.close_reason.startswith("lighter leg liquidated/ADL")
