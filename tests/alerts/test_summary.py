"""The daily summary: its figures from storage (24 h window: pairs closed in it and their net PnL
as the report computes it, funding of every position, open and naked pairs, running grids), its
schedule at the configured UTC time, and its message published as a ``summary`` event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from perpdex.alerts.summary import DailySummary, next_run, summary_figures
from perpdex.runtime.core import TradingRuntime
from perpdex.runtime.events import EventKind
from perpdex.storage import Store

D = Decimal
NOW = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)


async def pair(store: Store, status: str, opened: datetime, closed: datetime | None, fills, funding, **kw):
    pos = await store.create_position(symbol="ETH", long_exchange="a", short_exchange="b", status=status,
                                      quantity=D(1), opened_at=opened, closed_at=closed, **kw)
    for phase, ex, side, qty, price, fee in fills:
        await store.add_fill(pos.id, phase, exchange=ex, symbol="ETH", side=side, quantity=D(qty), price=D(price),
                             fee=D(fee), liquidity="taker", order_id=None, ts=opened)
    for ex, amount, ts in funding:
        await store.add_funding(pos.id, exchange=ex, symbol="ETH", amount=D(amount), rate=None, ts=ts)
    return pos


async def seeded(tmp_path) -> Store:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await store.init()
    h = timedelta(hours=1)
    # closed 2 h ago: price +10 - fees 2 + funding 1.5 (0.5 of it before the window) = 9.5
    await pair(store, "closed", NOW - 30 * h, NOW - 2 * h,
               [("open", "a", "buy", 1, 100, 0.5), ("open", "b", "sell", 1, 101, 0.5),
                ("close", "a", "sell", 1, 110, 0.5), ("close", "b", "buy", 1, 101, 0.5)],
               [("a", "0.5", NOW - 26 * h), ("b", "1.0", NOW - 3 * h)])
    # closed 2 days ago: outside the window
    await pair(store, "closed", NOW - 60 * h, NOW - 48 * h,
               [("open", "a", "buy", 1, 100, 0.1), ("close", "a", "sell", 1, 200, 0.1)], [("a", "7", NOW - 50 * h)])
    # open, with funding in the window; naked
    await pair(store, "open", NOW - 5 * h, None, [("open", "a", "buy", 1, 100, 0.2), ("open", "b", "sell", 1, 100, 0.2)],
               [("a", "0.25", NOW - 1 * h)])
    await pair(store, "naked", NOW - 4 * h, None, [("open", "a", "buy", 1, 100, 0.2)], [])
    # a grid's funding holder
    await pair(store, "open", NOW - 10 * h, None, [], [("a", "-0.05", NOW - 1 * h)], strategy="g",
               detail={"kind": "grid"})
    return store


async def test_figures_over_the_last_24_hours(tmp_path):
    store = await seeded(tmp_path)
    try:
        fig = await summary_figures(store, ..., NOW)
    finally:
        await store.close()
    assert fig["closed_positions"] == 1 and D(fig["realized_pnl_usd"]) == D("9.5")
    assert D(fig["funding_usd"]) == D("1.0") + D("0.25") - D("0.05")
    assert fig["open_positions"] == 2 and fig["naked"] == 1 and fig["grids"] == 1
    assert fig["positions"] == ["#3 ETH a/b open", "#4 ETH a/b naked"]


def test_next_run_is_the_next_utc_time():
    assert next_run(time(8, 0), NOW) == NOW + timedelta(days=1)  # exactly at 08:00: tomorrow's
    assert next_run(time(8, 0), NOW - timedelta(minutes=1)) == NOW
    assert next_run(time(23, 59), NOW) == datetime(2025, 5, 2, 23, 59, tzinfo=UTC)
    assert next_run(time(0, 0), datetime(2025, 12, 31, 23, 0, tzinfo=UTC)) == \
        datetime(2026, 1, 1, tzinfo=UTC)


async def test_published_at_the_configured_time_as_a_summary_event(tmp_path):
    store = await seeded(tmp_path)
    rt = TradingRuntime({}, store)
    events = []
    rt.events.subscribe(events.append)
    clock = [NOW - timedelta(hours=3)]  # 05:00 UTC
    slept = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        if len(slept) >= 3:
            await asyncio.Event().wait()  # after the first day's run: hold
        await asyncio.sleep(0)

    summary = DailySummary(time(8, 0), store, rt.event, ..., clock=lambda: clock[0], sleep=sleep)
    summary.start()
    try:
        for _ in range(200):
            if events:
                break
            await asyncio.sleep(0.01)
    finally:
        await summary.stop()
        await store.close()
    assert slept[0] == 3 * 3600  # until 08:00 UTC
    [ev] = events
    assert ev.kind is EventKind.SUMMARY and ev.data["closed_positions"] == 1 and ev.data["realized_pnl_usd"] == "9.5"
    assert ev.message.splitlines()[0] == "last 24h: 1 pair(s) closed, 2 open (1 NAKED), 1 grid(s) running"
