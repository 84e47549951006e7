"""End to end: the strategy against the emulated exchanges over real loopback sockets.

The default scenario's widest spread is 0G: Aster pays longs (-0.0004 per 4h) while Lighter
charges longs (+0.00012 per hour), so the strategy must go long on Aster and short on Lighter and
receive funding on both legs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.models import Side
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy
from perpdex.strategies.report import build_report
from tests.waiting import eventually

D = Decimal


def config(tmp_path, exchanges=("aster", "lighter"), **strategy):
    data = {
        "sim": {"enabled": True, "seed": 42, "funding_time_scale": 7200},  # 1h pays every 0.5 s, 8h every 4 s
        "exchanges": {name: {} for name in exchanges},
        "strategy": {
            "size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "scan_interval_s": 0.5,
            "limit_timeout_s": 1.0, "max_positions": 1, "min_volume_24h_usd": 1_000_000,
            "exit": {"max_age_s": 9, "min_spread_apr": 0.05}, **strategy,
        },
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"},
    }
    return parse_config(data)


def venue_account(venue):
    [acct] = [a for a in venue.accounts.values() if a.fills]
    return acct


# (long, short) exchange pairs and the symbol the default scenario makes best between them
PAIRS = [
    (("aster", "lighter"), "0G"),  # -0.0004/4h vs +0.00012/h
    (("backpack", "lighter"), "0G"),  # -1.79e-4/h vs +1.2e-4/h
    (("backpack", "paradex"), "0G"),  # -1.79e-4/h vs +0.0003/8h
]


@pytest.mark.parametrize("pair, symbol", PAIRS, ids=["-".join(p) for p, _ in PAIRS])
async def test_opens_collects_funding_with_right_signs_closes_and_report_adds_up(tmp_path, pair, symbol):
    long_ex, short_ex = pair
    cfg = config(tmp_path, exchanges=pair)
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        await strat.run(duration_s=14)
        report = await build_report(store, strat.first_snapshot, strat.chosen, duration_s=14)
        venues = {ex: rt.cluster.sim.venue(ex) for ex in pair}
        accounts = {ex: venue_account(v) for ex, v in venues.items()}
        # flat on both exchanges at the end
        for acct in accounts.values():
            assert all(p.qty == 0 for p in acct.positions.values())
        # idle again: market data paused on both exchanges (books resumed for the close)
        assert all(c.feed.stats()["state"] == "paused" for c in rt.clients.values())
        # with the WebSocket books up, execution never asked REST for a book or a BBO
        assert strat.prices.rest_calls == 0 and strat.prices.ws_hits > 0
    await store.close()

    [pos] = report["positions"]
    assert pos["symbol"] == symbol
    assert (pos["long_exchange"], pos["short_exchange"]) == (long_ex, short_ex)
    assert pos["status"] == "closed" and pos["close_reason"].startswith("max age")
    assert report["opportunities_chosen"][0]["symbol"] == symbol
    # funding: both legs received (long on a negative rate, short on a positive rate)
    assert D(pos["funding_long"]) > 0 and D(pos["funding_short"]) > 0
    assert pos["funding_payments"] >= 3
    # the report adds up
    pnl = D(pos["price_pnl"]) + D(pos["funding"]) - D(pos["entry_fees"]) - D(pos["exit_fees"])
    assert D(pos["pnl"]) == pnl
    # ... and agrees with the exchanges' own books (balance change = cash flows - fees + funding)
    for ex, acct in accounts.items():
        fills = [f for f in pos["fills"] if f["exchange"] == ex]
        flow = sum((D(f["quantity"]) * D(f["price"]) * (1 if f["side"] == "sell" else -1) for f in fills), D(0))
        fees = sum((D(f["fee"]) for f in fills), D(0))
        funding = D(pos["funding_long"] if ex == long_ex else pos["funding_short"])
        # on a mismatch, say what each side holds (seen twice under CI load, ~0.4 USD; not reproduced)
        detail = (f"{ex}: report fills {fills}, report funding {funding} ({pos['funding_payments']} payments); "
                  f"exchange fills {acct.fills}, exchange funding {acct.fundings}")
        assert float(flow - fees + funding) == pytest.approx(acct.balance - venues[ex].starting_balance, abs=0.05), detail


async def test_restart_resumes_open_position_from_the_store(tmp_path):
    cfg = config(tmp_path, exit={"max_age_s": 3, "min_spread_apr": 0.05})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        first = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await first.start()
        report = await first.cycle()
        assert len(report.opened) == 1
        # the process "dies" here; meanwhile someone buys 7 more on the long leg by hand
        [pos] = await store.positions(["open"])
        await rt.clients["aster"].place_market_order("0G", Side.BUY, Decimal(7))
        events: list[str] = []
        second = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides,
                                    on_event=events.append)
        await second.start()
        # a new strategy object over the same store and exchanges resumes it and flags the difference
        assert any(e.startswith(f"flagged #{pos.id} 0G: aster holds 7 more than stored") for e in events), events
        [pos] = await store.positions(["open"])
        assert pos.detail["mismatch_on_resume"] == {"aster": "7"}

        async def closed_by_a_cycle() -> list:
            await second.cycle()
            return await store.positions(["closed"])

        [closed] = await eventually(closed_by_a_cycle, "the resumed position closed", timeout=30, interval=0.2)
        assert closed.id == pos.id
    await store.close()


async def test_interrupted_open_is_reconciled_no_naked_leg(tmp_path):
    cfg = config(tmp_path)
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        aster = rt.clients["aster"]
        await aster.connect()
        # a crash after the long leg filled and before the short leg was sent
        pos = await store.create_position(symbol="0G", long_exchange="aster", short_exchange="lighter",
                                          status="opening", quantity=D(500), leverage=D(3))
        from perpdex.models import Side
        await aster.place_market_order("0G", Side.BUY, D(500))
        snap = await aster.fetch_position("0G")
        assert snap is not None and snap.quantity == D(500)

        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        row = await store.position(pos.id)
        assert row.status == "failed" and "recovered" in row.close_reason
        assert await aster.fetch_position("0G") is None
        assert any(f.phase == "rollback" for f in await store.fills(pos.id))
    await store.close()


async def test_one_leg_rejected_rolls_back_the_other(tmp_path):
    cfg = config(tmp_path)
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        lighter_venue = rt.cluster.sim.venue("lighter")
        lighter_venue.faults.inject("reject", count=10, symbol="0G")  # every 0G order on Lighter fails
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        report = await strat.cycle()
        assert report.opened == []
        [row] = await store.positions()
        assert row.status == "failed" and "rejected" in row.close_reason and "lighter sell 0/510" in row.close_reason
        assert await rt.clients["aster"].fetch_position("0G") is None
        assert await rt.clients["lighter"].fetch_position("0G") is None
    await store.close()


async def test_idle_cooldown_keeps_books_live_then_pauses_them(tmp_path):
    cfg = config(tmp_path, market_data_idle_cooldown_s=1.5, exit={"max_age_s": 3600})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        report = await strat.cycle()
        assert len(report.opened) == 1
        # just traded: the books stay live through the cooldown...
        assert all(c.feed.stats()["state"] == "connected" for c in rt.clients.values())
        await strat.cycle()
        assert all(c.feed.stats()["state"] == "connected" for c in rt.clients.values())
        # ...and are paused by the first cycle after it

        async def paused_by_a_cycle() -> bool:
            await strat.cycle()
            return all(c.feed.stats()["state"] == "paused" for c in rt.clients.values())

        await eventually(paused_by_a_cycle, "every book paused after the cooldown", timeout=30, interval=0.2)
    await store.close()
