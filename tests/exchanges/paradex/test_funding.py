"""ParadexFundingAdapter against the emulated Paradex (D12)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.paradex import ParadexFundingAdapter


async def test_d12_rates_normalized_and_stats_in_usd(paradex: dict[str, Any]) -> None:
    venue = paradex["venue"]
    venue.set_funding_rate("ETH", 0.00024)
    adapter = ParadexFundingAdapter(ExchangeSettings("paradex", paradex["ep"]["rest_url"], paradex["ep"]["ws_url"]))
    try:
        rates = await adapter.fetch_funding_rates()
        assert sorted(rates) == sorted(venue.markets)  # options excluded, every perp present
        eth = rates["ETH"]
        assert eth.raw_rate == Decimal("0.00024") and eth.interval_hours == 8  # per 8 h period as quoted
        assert eth.normalized_rate == Decimal("0.00024")
        assert eth.apr == Decimal("0.00024") * 1095  # 26.28 %: r × 8760 / 8
        assert eth.next_funding_time is None  # continuous funding: no settlement time
        assert eth.mark_price is not None and abs(float(eth.mark_price) - venue.mark_price("ETH")) < 5
        cur = await adapter.fetch_current_rate("ETH")
        assert cur.raw_rate == Decimal("0.00024") and cur.metadata["rate_8h"] == Decimal("0.00024")
        stats = await adapter.fetch_market_data()
        m = venue.market("BTC")
        assert stats["BTC"].volume_24h_usd == Decimal(str(int(m.volume_24h_usd)))
        assert abs(float(stats["BTC"].open_interest_usd) - m.open_interest_usd) / m.open_interest_usd < 0.01
        assert adapter.normalize_symbol("ETH-USD-PERP") == "ETH"
        assert adapter.dex_symbol("ETH") == "ETH-USD-PERP"
    finally:
        await adapter.close()
