"""AsterFundingAdapter against the emulator (D12): per-symbol intervals, 8 h normalization, APR,
next funding time, mark price, 24 h volume and open interest in USD."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from perpdex.errors import RateLimited
from perpdex.exchanges.aster import AsterFundingAdapter
from perpdex.exchanges.base import ExchangeSettings


def _adapter(cluster) -> AsterFundingAdapter:
    return AsterFundingAdapter(ExchangeSettings("aster", rest_url=cluster.endpoints["aster"]["rest_url"]))


async def test_d12_funding_rates_per_symbol_interval_normalized(emulators):
    venue = emulators.sim.venues["aster"]
    adapter = _adapter(emulators)
    try:
        rates = await adapter.fetch_funding_rates()
    finally:
        await adapter.close()
    assert set(rates) == set(venue.markets)
    hours = {s: r.interval_hours for s, r in rates.items()}
    assert hours["BTC"] == 8 and hours["CRV"] == 4 and hours["XRP"] == 1  # read per symbol
    for sym, r in rates.items():
        spec = venue.markets[sym]
        assert r.exchange == "aster" and r.metadata["dex_symbol"] == f"{sym}USDT"
        assert r.interval_hours == Decimal(str(spec.funding_interval_hours))
        assert r.raw_rate == Decimal(f"{venue.funding_rate(sym):.8f}")  # per interval
        assert r.normalized_rate == r.raw_rate * 8 / r.interval_hours  # 8 h equivalent
        assert r.apr == r.raw_rate * (24 / r.interval_hours) * 365
        assert r.next_funding_time == datetime.fromtimestamp(venue.next_funding_ms(sym) / 1000, tz=UTC)
        assert r.mark_price is not None and abs(float(r.mark_price) / venue.mark_price(sym) - 1) < 1e-3
    # 0.0001 per 8 h -> 10.95 % APR; 0.00008 per 1 h -> 0.064 % per 8 h
    assert rates["BTC"].apr == Decimal("0.1095")
    assert rates["XRP"].normalized_rate == Decimal("0.00064")


async def test_d12_missing_funding_info_falls_back_to_8h(emulators):
    emulators.dialects["aster"].unlisted_funding_info = {"CRV"}
    adapter = _adapter(emulators)
    try:
        rates = await adapter.fetch_funding_rates()
    finally:
        await adapter.close()
    assert rates["CRV"].interval_hours == 8 and rates["CRV"].metadata["interval_source"] == "default"
    assert rates["XRP"].interval_hours == 1 and rates["XRP"].metadata["interval_source"] == "fundingInfo"


async def test_d12_volume_and_open_interest_in_usd(emulators):
    venue = emulators.sim.venues["aster"]
    adapter = _adapter(emulators)
    try:
        stats = await adapter.fetch_market_data()
    finally:
        await adapter.close()
    assert set(stats) == set(venue.markets)
    for sym, s in stats.items():
        spec = venue.markets[sym]
        assert s.volume_24h_usd == pytest.approx(Decimal(str(spec.volume_24h_usd)), rel=Decimal("1e-9"))
        # open interest comes in base units, converted with the mark price (lot rounding aside)
        assert float(s.open_interest_usd) == pytest.approx(spec.open_interest_usd, rel=2e-3)
    assert adapter.normalize_symbol("1000PEPEUSDT") == "PEPE"
    assert adapter.dex_symbol("BTC") == "BTCUSDT"


async def test_d12_rate_limit_maps_to_rate_limited(emulators):
    emulators.sim.venues["aster"].faults.inject("http429")
    adapter = _adapter(emulators)
    try:
        with pytest.raises(RateLimited, match="-1003"):
            await adapter.fetch_intervals()
        assert len(await adapter.fetch_intervals()) == 10  # one-shot fault
    finally:
        await adapter.close()
