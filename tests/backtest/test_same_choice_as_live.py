"""The backtest and a live cycle choose the same opportunity from the same snapshot.

A live :class:`FundingArbStrategy` runs one cycle against the emulated exchanges (real sockets)
reading its funding from storage; the same round, written as settled funding rows, is what the
backtest sees at that hour, with the fees of the same exchange catalogs and the round's 24h
volume / open interest for the liquidity filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perpdex.app import runtime
from perpdex.backtest.engine import Backtest, BacktestSettings, clock_for
from perpdex.backtest.loader import load_history
from perpdex.funding.collector import collect_funding
from perpdex.funding.settled import SettledFunding, SettledFundingStore
from perpdex.storage import Store
from perpdex.strategies import funding_arb_rules as rules
from perpdex.strategies.funding_arb import FundingArbStrategy

from ..strategies.test_funding_arb_e2e import config


async def test_backtest_and_live_cycle_choose_the_same_opportunity(tmp_path):
    cfg = config(tmp_path, exchanges=("aster", "lighter", "backpack"), funding_source="storage",
                 funding_max_age_s=600, min_net_apr=0.3, exit={"max_age_s": 3600})
    store = Store(cfg.storage.url)
    await store.init()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        snap = await collect_funding(rt.adapters)
        await strat.history.store_round(snap)
        await SettledFundingStore(store.sessions).add(
            SettledFunding(ex, sym, hour, s.raw_rate, s.interval_hours, source="test: the live round")
            for ex, per in snap.rates.items() for sym, s in per.items())
        report = await strat.cycle()
        catalogs = {ex: c.contracts for ex, c in rt.clients.items()}
        await strat.close()
    history = await load_history(store, hour - timedelta(hours=1), hour + timedelta(hours=1),
                                 exchanges=cfg.enabled_exchanges)
    await store.close()

    settings = BacktestSettings.from_config(cfg, catalogs=catalogs, stats=snap.stats)
    bt = Backtest(history, cfg.strategy, settings, clock_for(hour, hour + timedelta(hours=1)))
    # the same ranking from the backtest's snapshot of that hour as from the live round
    ranked = rules.rank(bt.cfg, bt.snapshot(0, bt.symbols), bt.fees)
    assert [o.key for o in ranked] == [o.key for o in report.opportunities]
    assert [o.net_apr for o in ranked] == [o.net_apr for o in report.opportunities]
    assert len(ranked) >= 2  # a choice among several
    # and the same pick: the live cycle opened it, the backtest would open it
    assert len(report.opened) == 1 and len(strat.chosen) == 1
    assert bt._choose(0, set(), set(), 0) == strat.chosen
