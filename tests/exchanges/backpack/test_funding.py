"""D12: BackpackFundingAdapter against the emulated Backpack (markets + markPrices + tickers +
openInterest over loopback): per-interval rate, interval read per market, 8h rate, APR, next
funding time, mark price, 24 h volume and open interest in USD."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from perpdex.errors import RateLimited
from perpdex.exchanges.backpack import BackpackFundingAdapter
from perpdex.exchanges.base import ExchangeSettings


async def test_d12_funding_rates_units_and_interval(stepped: dict[str, Any]) -> None:
    venue = stepped["venue"]
    venue.markets["ETH"].funding_interval_hours = 8.0  # the interval is read per market, never assumed
    adapter = BackpackFundingAdapter(ExchangeSettings("backpack", stepped["ep"]["rest_url"]))
    try:
        samples = await adapter.fetch_funding_rates()
        assert set(samples) == set(venue.markets)
        btc, eth, zero_g = samples["BTC"], samples["ETH"], samples["0G"]
        assert btc.raw_rate == Decimal("0.0000125") and btc.interval_hours == 1
        assert btc.normalized_rate == Decimal("0.0001") and btc.apr == Decimal("0.0000125") * 8760
        assert eth.interval_hours == 8 and eth.normalized_rate == eth.raw_rate == Decimal("0.0000125")
        assert zero_g.raw_rate == Decimal("-0.000179") and zero_g.normalized_rate == Decimal("-0.001432")
        assert btc.next_funding_time == datetime.fromtimestamp(venue.next_funding_ms("BTC") / 1000, tz=UTC)
        assert btc.mark_price == Decimal(f"{venue.mark_price('BTC'):.8f}")
        assert btc.metadata["funding_interval_ms"] == 3_600_000 and btc.metadata["multiplier"] == 1
        assert adapter.dex_symbol("BTC") == "BTC_USDC_PERP" and adapter.normalize_symbol("BTC_USDC_PERP") == "BTC"

        stats = await adapter.fetch_market_data()
        spec = venue.markets["BTC"]
        assert stats["BTC"].volume_24h_usd == Decimal("450000000.00")
        # open interest arrives in base units and is converted with the mark price
        assert abs(stats["BTC"].open_interest_usd / Decimal(repr(spec.open_interest_usd)) - 1) < Decimal("0.0001")

        venue.faults.inject("http429")
        with pytest.raises(RateLimited):
            await adapter.fetch_funding_rates()
    finally:
        await adapter.close()
