"""The generated ``large`` scenario (sim/catalog.py) and the engine at that size: catalog sizes,
determinism, realism (head vs tail), exchange spellings, and the book ladder's fast path."""

from __future__ import annotations

import statistics
from decimal import Decimal

import pytest

from perpdex.exchanges.aster.symbols import normalize_symbol as aster_normalize
from perpdex.exchanges.backpack.symbols import exchange_base
from perpdex.exchanges.backpack.symbols import normalize_symbol as backpack_normalize
from perpdex.exchanges.lighter.symbols import normalize_symbol as lighter_normalize
from perpdex.exchanges.paradex.symbols import market_name
from perpdex.exchanges.paradex.symbols import normalize_symbol as paradex_normalize
from perpdex.sim.catalog import generate_catalog
from perpdex.sim.engine import IndexProcess, MarketSpec, Venue
from perpdex.sim.scenario import build_simulation, load_scenario, market_specs


@pytest.fixture(scope="module")
def large():
    return load_scenario("large")


def test_large_lists_at_least_250_perps_per_exchange(large):
    counts = {name: len(v["markets"]) for name, v in large["venues"].items()}
    assert set(counts) == {"aster", "lighter", "backpack", "paradex"}
    assert all(n >= 250 for n in counts.values()), counts
    for v in large["venues"].values():
        assert set(v["markets"]) <= set(large["symbols"])  # every market has an index price


def test_generation_is_deterministic_and_keeps_the_default_markets(large):
    assert load_scenario("large") == large
    default = load_scenario("default")
    for name, venue in default["venues"].items():
        for sym, m in venue["markets"].items():
            assert large["venues"][name]["markets"][sym] == m  # calibrated figures kept as they are
    assert large["funding_process"] == default["funding_process"]
    other = generate_catalog({**_params(), "seed": 12}, default)
    assert other["venues"]["aster"]["markets"] != generate_catalog(_params(), default)["venues"]["aster"]["markets"]


def _params():
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("perpdex.sim").joinpath("scenarios/large.yml").read_text())["params"]


def test_each_exchange_has_its_own_long_tail(large):
    listed = {name: set(v["markets"]) for name, v in large["venues"].items()}
    everywhere = set.intersection(*listed.values())
    anywhere = set.union(*listed.values())
    assert 40 <= len(everywhere) < min(len(s) for s in listed.values())
    assert len(anywhere) > max(len(s) for s in listed.values())
    assert len({frozenset(s) for s in listed.values()}) == 4


def test_head_is_deep_and_tight_tail_is_thin_with_wide_funding_dispersion(large):
    aster = large["venues"]["aster"]["markets"]
    names = list(aster)
    prices = {s: (v["price"] if isinstance(v, dict) else v) for s, v in large["symbols"].items()}

    def top_usd(sym):
        m = aster[sym]
        return m["level_size"] * prices[sym] * m.get("multiplier", 1)

    def spread_bps(sym):
        m = aster[sym]
        return m["spread_ticks"] * float(m["tick"]) / (prices[sym] * m.get("multiplier", 1)) * 1e4

    def apr(sym):
        m = aster[sym]
        return abs(m["funding_rate"] / m["interval_hours"] * 8760)

    head, tail = names[:40], names[-150:]
    assert statistics.median(map(top_usd, head)) > 20 * statistics.median(map(top_usd, tail))
    assert statistics.median(map(spread_bps, head)) < statistics.median(map(spread_bps, tail)) / 5
    assert statistics.median(aster[s]["levels"] for s in head) > statistics.median(aster[s]["levels"] for s in tail)
    assert statistics.median(float(aster[s]["volume_24h_usd"]) for s in head) > 10 * statistics.median(
        float(aster[s]["volume_24h_usd"]) for s in tail)
    assert statistics.pstdev(map(apr, tail)) > 5 * statistics.pstdev(map(apr, names[10:40]))
    assert max(map(apr, tail)) > 1.0  # some tail market pays over 100 % APR
    assert {m["interval_hours"] for m in aster.values()} == {1, 4, 8}  # per-symbol intervals on Aster
    assert {m["interval_hours"] for m in large["venues"]["lighter"]["markets"].values()} == {1}


def test_exchange_spellings_round_trip(large):
    """Every market's exchange symbol maps back to its canonical symbol with the exchange's own
    rules (bundles included: 1000PEPEUSDT, kPEPE_USDC_PERP, kPEPE-USD-PERP, 1000PEPE)."""
    bundles = 0
    for name, venue in large["venues"].items():
        for spec in market_specs(venue):
            base = spec.exchange_base
            spelled = {"aster": (aster_normalize, base + "USDT"),
                       "lighter": (lighter_normalize, base),
                       "backpack": (backpack_normalize, exchange_base(spec.symbol, spec.multiplier) + "_USDC_PERP"),
                       "paradex": (paradex_normalize, market_name(spec.symbol, spec.multiplier))}[name]
            assert spelled[0](spelled[1]) == spec.symbol, (name, spelled[1])
            bundles += spec.multiplier != 1
    assert bundles >= 20
    ids = [m["market_id"] for m in large["venues"]["lighter"]["markets"].values()]
    assert len(set(ids)) == len(ids) and max(ids) < 2048  # perp ids stay below Lighter's spot range
    assert large["venues"]["lighter"]["markets"]["ETH"]["market_id"] == 0


def _ladder_venue(levels: int = 12, gap: int = 1) -> Venue:
    spec = MarketSpec("X", Decimal("0.01"), Decimal("0.1"), Decimal("0.1"), Decimal("0"), 10, funding_rate=0.0,
                      levels=levels, level_size=5.0, level_gap_ticks=gap)
    return Venue("v", [spec], IndexProcess({"X": 100.0}, seed=5), seed=5)


@pytest.mark.parametrize("ticks", [0, 1, 3, -2, -5, 11, 40])
def test_a_sliding_ladder_keeps_the_levels_it_still_has(ticks):
    v = _ladder_venue()
    v.step()
    bids0, asks0 = (dict(side) for side in v.book("X"))
    v.index.prices["X"] = 100.0 + ticks * 0.01
    v.step()
    bids, asks = v.book("X")
    for side, old, direction in ((bids, bids0, -1), (asks, asks0, 1)):
        assert len(side) == 12
        prices = [p for p, _ in side]
        assert all(round((b - a) * direction * 100) == 1 for a, b in zip(prices, prices[1:]))  # contiguous
        same = [p for p, _ in side if p in old]
        changed = [p for p in same if dict(side)[p] != old[p]]
        assert len(same) == max(12 - abs(ticks), 0)
        assert len(changed) <= 2  # only the two requotes of the step
    assert asks[0][0] - bids[0][0] == pytest.approx(0.01)


def test_gap_ladders_and_quiet_markets():
    v = _ladder_venue(levels=6, gap=4)
    bids, asks = v.book("X")
    assert [round((asks[i + 1][0] - asks[i][0]) * 100) for i in range(5)] == [4] * 5
    m = v.markets["X"]
    m.refresh_ticks = 5
    seen = []
    for _ in range(10):
        before = dict(v._syn["X"][0])
        v.step()
        seen.append(dict(v._syn["X"][0]) != before)
    assert sum(seen) == 2  # requoted on 2 steps of 10


def test_large_simulation_builds_every_venue():
    sim = build_simulation(scenario="large")
    assert {n: len(v.markets) for n, v in sim.venues.items()} == {
        n: len(c["markets"]) for n, c in load_scenario("large")["venues"].items()}
    sim.step()
    for v in sim.venues.values():
        for sym in v.markets:
            (bid, _), (ask, _) = v.bbo(sym)
            assert 0 < bid < ask


def test_unknown_scenario_names_the_bundled_ones(tmp_path):
    with pytest.raises(ValueError, match="bundled scenarios: default, large"):
        load_scenario("huge")
    bad = tmp_path / "gen.yml"
    bad.write_text("generator: nope\nparams: {}\n")
    with pytest.raises(ValueError, match="unknown generator 'nope'"):
        load_scenario(bad)
