"""The emulator's generated funding past (sim/history.py, Venue.funding_history): deterministic from
the seed, 180 days ending at the venue's start and joining its live starting rate, made by the
live process (regime shifts and sign changes included), per-symbol intervals."""

from __future__ import annotations

from perpdex.sim.history import HOUR_MS
from perpdex.sim.scenario import build_simulation


def test_history_is_deterministic_per_seed_and_joins_the_live_start():
    a, b, other = (build_simulation(["aster"], seed=s).venues["aster"] for s in (7, 7, 8))
    pa, pb, po = a.funding_history("XRP"), b.funding_history("XRP"), other.funding_history("XRP")
    assert pa.rates == pb.rates and pa.marks == pb.marks
    assert pa.rates != po.rates
    m = a.market("XRP")
    assert len(pa) == int(180 * 24 / m.funding_interval_hours)
    assert pa.times_ms[-1] <= a.started_ms < pa.times_ms[-1] + m.funding_interval_hours * HOUR_MS
    assert pa.rates[-1] == m.funding_rate  # the newest settlement is the live starting estimate
    assert pa.marks[-1] == a.index.start_prices["XRP"] * m.multiplier * (1 + m.basis_bps / 10_000)


def test_history_has_regimes_and_sign_changes_and_per_symbol_intervals():
    venue = build_simulation(["aster"], seed=42).venues["aster"]
    flips = 0
    for sym, m in venue.markets.items():
        path = venue.funding_history(sym)
        step = path.times_ms[1] - path.times_ms[0]
        assert step == m.funding_interval_hours * HOUR_MS
        assert all(b - a == step for a, b in zip(path.times_ms, path.times_ms[1:]))
        flips += sum(1 for x, y in zip(path.rates, path.rates[1:]) if (x > 0) != (y > 0))
        assert len(set(path.rates)) > len(path) // 2  # it moves
    assert flips > 0
    assert {m.funding_interval_hours for m in venue.markets.values()} >= {1.0, 8.0}


def test_window_selects_by_time():
    venue = build_simulation(["lighter"], seed=1).venues["lighter"]
    path = venue.funding_history("BTC")
    w = path.window(path.times_ms[10], path.times_ms[20])
    assert list(w) == list(range(10, 21))
    assert len(path.window(venue.started_ms + 1)) == 0
