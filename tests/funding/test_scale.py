"""Collection at catalog scale: one round against the ``large`` scenario's emulator returns the
four exchanges' full catalogs (rates as the scenario sets them, statistics), the funding-rate
service stores that round in SQLite, and Aster's per-symbol open interest fills in over rounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.config import ServiceConfig
from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeSettings
from perpdex.funding.collector import collect_funding
from perpdex.funding.history import FundingHistory
from perpdex.funding.service import FundingRateService
from perpdex.storage import Store


def _adapters(cluster, **options):
    return {n: registry.funding_class(n)(ExchangeSettings(name=n, rest_url=ep["rest_url"], ws_url=ep["ws_url"],
                                                          options=dict(options)))
            for n, ep in cluster.endpoints.items()}


async def _close(adapters):
    for a in adapters.values():
        await a.close()


async def test_one_round_returns_every_catalog_in_full(large_cluster):
    adapters = _adapters(large_cluster, open_interest_round_s=1.0)
    try:
        snap = await collect_funding(adapters, timeout=20)
    finally:
        await _close(adapters)
    assert snap.errors == {}
    for name, venue in large_cluster.sim.venues.items():
        assert set(snap.rates[name]) == set(venue.markets), name
        assert set(snap.stats[name]) == set(venue.markets), name
        assert len(venue.markets) >= 250
        for sym, m in venue.markets.items():  # the rate per interval and the interval the scenario sets
            s = snap.rates[name][sym]
            assert s.interval_hours == Decimal(str(m.funding_interval_hours)), (name, sym)
            # Lighter quotes percent per hour to 4 decimals: a resolution of 1e-6 per hour
            quote = 5.01e-7 if name == "lighter" else 1e-15
            assert float(s.raw_rate) == pytest.approx(m.funding_rate, rel=1e-9, abs=quote), (name, sym)
            assert float(snap.stats[name][sym].volume_24h_usd) == pytest.approx(m.volume_24h_usd, rel=1e-2)
    assert {s.interval_hours for s in snap.rates["aster"].values()} == {1, 4, 8}


async def test_aster_open_interest_fills_in_over_rounds_highest_volume_first(large_cluster):
    adapter = _adapters(large_cluster, open_interest_round_s=0.5)["aster"]
    venue = large_cluster.sim.venues["aster"]
    try:
        first = await adapter.fetch_market_data()
        known = {s for s, st in first.items() if st.open_interest_usd is not None}
        assert 0 < len(known) < len(venue.markets)  # a bounded round, not one call per market
        by_volume = sorted(venue.markets, key=lambda s: -venue.markets[s].volume_24h_usd)
        assert set(by_volume[:len(known) // 2]) <= known  # the biggest markets first
        for sym in known:
            spec = venue.markets[sym]
            assert float(first[sym].open_interest_usd) == pytest.approx(spec.open_interest_usd, rel=0.02)
        second = await adapter.fetch_market_data()
        known2 = {s for s, st in second.items() if st.open_interest_usd is not None}
        assert known < known2  # earlier figures kept, more symbols read
    finally:
        await adapter.close()


async def test_the_service_stores_one_round_of_every_exchange(large_cluster, tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'scale.db'}")
    await store.init()
    adapters = _adapters(large_cluster, open_interest_round_s=1.0)
    try:
        service = FundingRateService(FundingHistory(store.sessions), adapters, ServiceConfig(interval_s=30),
                                     taker_fees={n: Decimal("0.0005") for n in adapters})
        result = await service.run_round()
        total = sum(len(v.markets) for v in large_cluster.sim.venues.values())
        assert result.errors == {} and result.stored == total
        health = service.health()
        assert health["status"] == "ok"
        assert {r["exchange"]: r["samples_last_round"] for r in health["exchanges"]} == {
            n: len(v.markets) for n, v in large_cluster.sim.venues.items()}
        ranked = await service.opportunities(hold_hours=Decimal(168), limit=10)
        assert len(ranked.opportunities) == 10 and ranked.skipped == {}
        assert ranked.opportunities[0].net_apr >= ranked.opportunities[-1].net_apr
    finally:
        await _close(adapters)
        await store.close()
