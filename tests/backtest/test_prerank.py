"""The backtest's compact-snapshot selection chooses exactly what the live ranking chooses over
every market: per hour (random held symbols, cooldowns and free slots) and over whole runs, on
random rates quantized so that many net APRs tie, with mixed funding intervals, with and without
the history filter and the liquidity filters."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from perpdex.backtest.engine import Backtest, BacktestSettings, clock_for
from perpdex.backtest.loader import History
from perpdex.config import parse_config
from perpdex.models import MarketStats
from perpdex.strategies import funding_arb_rules as rules

from .test_hand_computed import at

EXCHANGES = ("aster", "backpack", "lighter")
INTERVALS = {"aster": 8.0, "backpack": 1.0, "lighter": 4.0}
HOURS = 60


def history(seed: int, n_symbols: int = 40) -> History:
    rng = np.random.default_rng(seed)
    h = History()
    start = int(at(-24).timestamp())
    for ex in EXCHANGES:
        step = int(INTERVALS[ex] * 3600)
        times = np.arange(start, start + (HOURS + 24) * 3600, step, dtype=np.int64)
        for s in range(n_symbols):
            if rng.random() < 0.1:
                continue  # not listed everywhere
            rates = np.round(rng.normal(0.00005, 0.0002, len(times)) * INTERVALS[ex], 5)  # ties on purpose
            h.add(ex, f"S{s:02d}", times, rates, np.full(len(times), INTERVALS[ex]))
    return h


def full_choice(bt: Backtest, h: int, held: set[str], cooling: set[str], open_count: int):
    """The live cycle's selection, over a snapshot of every market."""
    opps = rules.rank(bt.cfg, bt.snapshot(h, bt.symbols), bt.fees)
    if rules.history_filter_on(bt.cfg) and opps:
        opps = rules.history_filter(bt.cfg, opps, bt.pair_stats(h, opps))
    slots = rules.EntrySlots(bt.cfg.max_positions, open_count, set(held), cooling)
    out = []
    for opp in slots.candidates(opps):
        out.append(opp)
        slots.opened(opp)
    return out


class FullRanking(Backtest):
    """The backtest with the selection over every market (the reference)."""

    def _choose(self, h, held, cooling, open_count):  # noqa: ANN001, ANN202
        return full_choice(self, h, held, cooling, open_count)


CASES = {
    "plain": {"max_positions": 3, "min_net_apr": 0.05},
    "history filter": {"max_positions": 2, "min_net_apr": 0.0, "min_persistence_hours": 3, "history_hours": 12,
                       "min_mean_spread_apr": 0.1},
    "liquidity": {"max_positions": 4, "min_net_apr": 0.02, "min_volume_24h_usd": 1_000_000},
}


@pytest.mark.parametrize("case", list(CASES))
def test_compact_selection_equals_the_full_ranking(case):
    cfg = parse_config({"exchanges": {ex: {} for ex in EXCHANGES},
                        "strategy": {"reentry_cooldown_s": 7200, "exit": {"max_age_s": 6 * 3600}, **CASES[case]}})
    stats = None
    if case == "liquidity":
        rng = np.random.default_rng(3)
        stats = {ex: {f"S{s:02d}": MarketStats(ex, f"S{s:02d}", Decimal(int(rng.integers(0, 3_000_000))), Decimal(1))
                      for s in range(40) if rng.random() < 0.9} for ex in EXCHANGES}
    settings = BacktestSettings(fee_overrides={"aster": Decimal("0.0004"), "backpack": Decimal("0.0004"),
                                               "lighter": Decimal(0)}, stats=stats)
    for seed in (1, 2):
        hist = history(seed)
        clock = clock_for(at(0), at(HOURS))
        bt = Backtest(hist, cfg.strategy, settings, clock)
        rng = np.random.default_rng(seed + 10)
        compared = 0
        for h in range(HOURS):
            symbols = bt.symbols
            held = set(rng.choice(symbols, size=int(rng.integers(0, 3)), replace=False))
            cooling = set(rng.choice(symbols, size=int(rng.integers(0, 3)), replace=False))
            open_count = int(rng.integers(0, cfg.strategy.max_positions))
            mine = bt._choose(h, held, cooling, open_count)
            assert mine == full_choice(bt, h, held, cooling, open_count), f"hour {h}"
            compared += bool(mine)
        assert compared > HOURS // 3  # the comparison was about real choices
        # whole runs: the same positions, opened and closed at the same hours for the same reasons
        ours = Backtest(hist, cfg.strategy, settings, clock).run()
        ref = FullRanking(hist, cfg.strategy, settings, clock).run()
        assert [(p.entry, p.opened_h, p.closed_h, p.close_reason) for p in ours.positions] == \
               [(p.entry, p.opened_h, p.closed_h, p.close_reason) for p in ref.positions]
        assert len(ours.positions) >= 3
