"""The emulator's market process on a simulated clock: index ranges and trends at the symbol's
volatility, funding estimates that hold, mean-revert, shift regime and change sign; determinism."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace

import pytest

from perpdex.sim.engine import IndexProcess
from perpdex.sim.market import (
    FundingParams,
    FundingState,
    IndexParams,
    IndexState,
    funding_step,
    index_step,
    initial_funding_state,
    initial_index_state,
)
from perpdex.sim.scenario import build_simulation, funding_params, index_params, load_scenario

SCENARIO = load_scenario()
BTC = index_params(SCENARIO["index_process"], SCENARIO["symbols"]["BTC"]["vol"])
FUNDING = funding_params(SCENARIO["funding_process"])
HOUR = 3600.0


def index_path(params: IndexParams, seed: int, days: float, dt: float) -> list[IndexState]:
    rng = random.Random(seed)
    st = initial_index_state(100.0, params, rng)
    out = [st]
    for _ in range(int(days * 86_400 / dt)):
        st = index_step(st, params, dt, rng)
        out.append(st)
    return out


def funding_path(params: FundingParams, seed: int, hours: float, dt: float = HOUR) -> list[FundingState]:
    rng = random.Random(seed)
    st = initial_funding_state(params, rng)
    out = [st]
    for _ in range(int(hours * HOUR / dt)):
        st = funding_step(st, params, dt, rng)
        out.append(st)
    return out


def stretches(path: list[IndexState], regime: str, min_len: int) -> list[tuple[int, int]]:
    """[start, end] index pairs of runs of ``regime`` at least ``min_len`` steps long."""
    out, start = [], None
    for i, st in enumerate(path + [replace(path[-1], regime="")]):
        if st.regime == regime and start is None:
            start = i
        elif st.regime != regime and start is not None:
            if i - 1 - start >= min_len:
                out.append((start, i - 1))
            start = None
    return out


def test_index_has_trending_and_ranging_stretches():
    dt = 30.0
    path = index_path(BTC, seed=7, days=20, dt=dt)
    x = [math.log(s.price) for s in path]

    def z(i: int, j: int) -> float:  # net move in noise-sigmas of a random walk of the same length
        return abs(x[j] - x[i]) / (BTC.sigma * math.sqrt((j - i) * dt))

    # trends: 2 h windows whose net move is beyond 3 sigma of the noise (a random walk: 0.27 %)
    w = int(2 * HOUR / dt)
    windows = [z(i, i + w) for i in range(0, len(x) - w, w)]
    assert sum(v > 3 for v in windows) / len(windows) > 0.03
    # ranges of 2 h or more: little net move, and the price stays in a band narrower than a random
    # walk's (whose median net move is 0.67 sigma and median high-low range about 1.6 sigma)
    ranges = stretches(path, "range", int(2 * HOUR / dt))
    assert len(ranges) >= 10
    assert statistics.median(z(i, j) for i, j in ranges) < 0.4
    bands = [(max(x[i:j + 1]) - min(x[i:j + 1])) / (BTC.sigma * math.sqrt((j - i) * dt)) for i, j in ranges]
    assert statistics.median(bands) < 1.0
    # trends of an hour or more move well beyond the noise
    trends = stretches(path, "trend", int(HOUR / dt))
    assert len(trends) >= 10
    assert statistics.median(z(i, j) for i, j in trends) > 1.5
    # both kinds take a real share of the time
    share = sum(s.regime == "trend" for s in path) / len(path)
    assert 0.2 < share < 0.7


@pytest.mark.parametrize("symbol", ["BTC", "0G"])
def test_index_short_term_volatility_is_the_symbols_figure(symbol):
    params = index_params(SCENARIO["index_process"], SCENARIO["symbols"][symbol]["vol"])
    dt = 10.0
    path = index_path(params, seed=3, days=3, dt=dt)
    rets = [math.log(b.price / a.price) for a, b in zip(path, path[1:])]
    annualized = statistics.pstdev(rets) / math.sqrt(dt) * math.sqrt(365 * 86_400)
    assert annualized == pytest.approx(SCENARIO["symbols"][symbol]["vol"], rel=0.1)


def test_index_same_seed_same_path_other_seed_differs():
    a = IndexProcess({"BTC": 110_000.0, "ETH": 3900.0}, seed=5, params=BTC, time_scale=60)
    b = IndexProcess({"BTC": 110_000.0, "ETH": 3900.0}, seed=5, params=BTC, time_scale=60)
    c = IndexProcess({"BTC": 110_000.0, "ETH": 3900.0}, seed=6, params=BTC, time_scale=60)
    series = {k: [] for k in "abc"}
    for _ in range(500):
        for k, p in zip("abc", (a, b, c)):
            p.step()
            series[k].append(dict(p.prices))
    assert series["a"] == series["b"]
    assert all(x["BTC"] != y["BTC"] for x, y in zip(series["a"], series["c"]))
    # a symbol's path does not depend on which other symbols the process carries
    alone = IndexProcess({"ETH": 3900.0}, seed=5, params=BTC, time_scale=60)
    eth = []
    for _ in range(500):
        alone.step()
        eth.append(alone.prices["ETH"])
    assert eth == [s["ETH"] for s in series["a"]]


def test_price_set_by_hand_is_where_the_market_carries_on():
    p = IndexProcess({"BTC": 100_000.0}, seed=1, params=BTC)
    p.prices["BTC"] = 90_000.0
    for _ in range(300):  # 5 minutes, inside the first range (at least 15 minutes)
        p.step(1.0)
    assert p.regime("BTC") == "range"
    assert p.prices["BTC"] == pytest.approx(90_000.0, rel=0.01)


def test_funding_holds_the_scenario_rate_then_moves():
    params = replace(FUNDING, base=-1.79e-4)  # Backpack 0G, per hour
    path = funding_path(params, seed=1, hours=200)
    held = [s.rate for s in path if s.t <= FUNDING.hold_s]
    assert len(held) == 25 and set(held) == {-1.79e-4}
    moving = [s.rate for s in path if s.t > FUNDING.hold_s]
    assert len(set(moving)) == len(moving)
    assert statistics.pstdev(moving) > 0.5 * params.noise


def test_funding_changes_sign_over_a_long_span():
    """Every market of the default scenario over 90 simulated days: regime shifts flip some."""
    flipped, markets = [], 0
    for venue, vcfg in SCENARIO["venues"].items():
        for sym, m in vcfg["markets"].items():
            markets += 1
            base = m["funding_rate"] / m.get("interval_hours", 8)
            if base == 0:
                continue
            path = funding_path(replace(FUNDING, base=base), seed=42, hours=90 * 24)
            if any(s.rate * base < 0 for s in path):
                flipped.append(f"{venue}:{sym}")
    assert markets == 40
    assert len(flipped) >= 5, flipped


def test_funding_mean_reverts_to_the_base_rate():
    base = 1.25e-5
    # from far off, with no regime shift: back within reach of the base after three reversion times
    quiet = replace(FUNDING, base=base, hold_s=0.0, shift_prob=0.0)
    rng = random.Random(2)
    start = base + 40 * quiet.noise
    st = FundingState(start, base, 0.0, 1e12)
    for _ in range(int(3 * quiet.reversion_s / 600)):
        st = funding_step(st, quiet, 600.0, rng)
    assert abs(st.rate - base) < 0.15 * (start - base)
    # the long-run average of the full process (shifts included) is the base rate
    params = replace(FUNDING, base=base)
    rates = [s.rate for s in funding_path(params, seed=9, hours=1000 * 24, dt=2 * HOUR)]
    assert abs(statistics.fmean(rates) - base) < 0.15 * params.shift_sd
    assert statistics.pstdev(rates) > params.noise  # and it is not a fixed rate with noise around it
    assert max(abs(r) for r in rates) <= params.cap


def test_funding_same_seed_same_series_other_seed_differs():
    params = replace(FUNDING, base=1.2e-4)
    a, b, c = (funding_path(params, seed=s, hours=400) for s in (4, 4, 5))
    assert [s.rate for s in a] == [s.rate for s in b]
    assert [s.rate for s in a if s.t > params.hold_s] != [s.rate for s in c if s.t > params.hold_s]


def hourly_rates(sim) -> dict[str, dict[str, float]]:
    return {n: {s: v.funding_rate(s) / v.markets[s].funding_interval_hours for s in v.markets}
            for n, v in sim.venues.items()}


def best_pair(rates: dict[str, dict[str, float]]) -> tuple[str, str, str]:
    """(symbol, long venue, short venue) of the widest funding spread."""
    options = [(rates[short][s] - rates[long][s], s, long, short)
               for long in rates for short in rates if long != short
               for s in rates[long] if s in rates[short]]
    return max(options)[1:]


def test_venues_move_their_estimates_on_the_funding_clock_and_the_default_outlier_stays_best():
    """720x (demo config): a step of 5 s real is an hour of funding time. The scenario's rates hold
    for a day, then move; the default seed's 0G long Backpack / short Lighter stays the widest
    spread over five days (the demo and the end-to-end tests run 15-28 simulated hours)."""
    sim = build_simulation(funding_time_scale=720)
    start = hourly_rates(sim)
    sim.venue("aster").set_funding_rate("BTC", 0.0003)
    seen = []
    for hour in range(1, 121):
        sim.index.step()
        for v in sim.venues.values():
            v.step(dt=5.0)
        rates = hourly_rates(sim)
        seen.append(rates)
        assert best_pair(rates) == ("0G", "backpack", "lighter"), hour
        assert sim.venue("aster").funding_rate("BTC") == 0.0003  # pinned by hand
    assert seen[22]["lighter"] == start["lighter"]  # 23 h: still the scenario's rates
    moved = seen[-1]
    assert all(moved[v][s] != start[v][s] for v in moved for s in moved[v] if (v, s) != ("aster", "BTC"))
    # same seed, same estimates
    again = build_simulation(funding_time_scale=720)
    for _ in range(30):
        for v in again.venues.values():
            v.step(dt=5.0)
    assert hourly_rates(again)["backpack"] == seen[29]["backpack"]
