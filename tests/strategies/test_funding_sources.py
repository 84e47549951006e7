"""Where the strategy's funding rates come from (live or the stored history), the history filter,
and the user-data streams the strategy starts (issue 6 part 1, issue 5 part 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpdex.app import runtime
from perpdex.funding.collector import collect_funding
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy

from .test_funding_arb_e2e import config


async def test_live_rounds_are_recorded_and_the_history_filter_gates_entries(tmp_path):
    cfg = config(tmp_path, min_persistence_hours=2.0, history_hours=6.0, exit={"max_age_s": 3600})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        report = await strat.cycle()
        # the round was stored, but one round is no persistence: 0G is filtered out
        assert len(await strat.history.latest()) == 20
        assert report.opportunities == [] and report.opened == []

        # three hours of rounds with the same spread: it has persisted long enough
        snap = await collect_funding(rt.adapters)
        now = datetime.now(UTC)
        for h in (3, 2, 1):
            await strat.history.store_round(snap, collected_at=now - timedelta(hours=h))
        report = await strat.cycle()
        assert [o.symbol for o in report.opportunities][:1] == ["0G"]
        assert len(report.opened) == 1
        await strat.close()
    await store.close()


async def test_storage_source_reads_the_newest_stored_round(tmp_path):
    cfg = config(tmp_path, funding_source="storage", funding_max_age_s=60, exit={"max_age_s": 3600})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        # an old round only: too stale to trade on
        snap = await collect_funding(rt.adapters)
        await strat.history.store_round(snap, collected_at=datetime.now(UTC) - timedelta(minutes=5))
        report = await strat.cycle()
        assert report.opportunities == [] and report.opened == []
        # a fresh round (what `perpdex serve` writes): the same 0G opportunity as live
        await strat.history.store_round(snap)
        report = await strat.cycle()
        assert report.opportunities and report.opportunities[0].symbol == "0G"
        assert report.opportunities[0].net_apr > Decimal(1)
        await strat.close()
    await store.close()


async def test_user_streams_start_and_carry_the_fills_of_an_open(tmp_path):
    cfg = config(tmp_path, exit={"max_age_s": 3600})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        assert all(c.user_stream is not None and c.user_stream.running for c in rt.clients.values())
        report = await strat.cycle()
        [pid] = report.opened
        stored = await store.fills(pid)
        for name, client in rt.clients.items():
            mine = [f for f in stored if f.exchange == name]
            streamed = client.user_stream.fills()
            assert mine and streamed, f"{name}: no fills"
            # every stored fill's order is one the user stream reported, for the same total
            for oid in {f.order_id for f in mine}:
                assert sum(f.quantity for f in mine if f.order_id == oid) == client.user_stream.filled_qty(oid)
        await strat.close()
    await store.close()
