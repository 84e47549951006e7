"""LighterFundingAdapter against the emulated Lighter (D12), cross-checked with market_stats."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec

from perpdex.exchanges.lighter import LighterFundingAdapter, schemas


async def _market_stats_all(ws_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url) as ws:
        assert (await ws.receive_json())["type"] == "connected"
        await ws.send_json({"type": "subscribe", "channel": "market_stats/all"})
        while True:
            msg = await ws.receive_json()
            if msg.get("type") == "subscribed/market_stats":
                assert msg["channel"] == "market_stats:all"
                return msg["market_stats"]


async def test_d12_funding_rates_units_against_emulator(lighter: dict[str, Any]) -> None:
    venue = lighter["venue"]
    adapter = LighterFundingAdapter(lighter["ep"]["rest_url"])
    try:
        samples = await adapter.fetch_funding_rates()
        stats = await adapter.fetch_market_data()
    finally:
        await adapter.close()
    assert set(samples) == set(venue.markets)
    eth = samples["ETH"]
    # scenario: ETH -1.2e-5 per 1h interval (Lighter pays hourly)
    assert eth.interval_hours == Decimal(1)
    assert eth.raw_rate == Decimal("-0.000012")
    assert eth.normalized_rate == Decimal("-0.000096")
    assert eth.apr == Decimal("-0.105120")
    now = datetime.now(UTC)
    assert eth.next_funding_time is not None and now < eth.next_funding_time
    assert eth.next_funding_time.minute == 0 and eth.next_funding_time.second == 0
    assert eth.mark_price is not None and abs(eth.mark_price / Decimal(repr(venue.mark_price("ETH"))) - 1) < Decimal("0.01")
    for sym, s in samples.items():
        # Lighter quotes 4 decimals of percent per hour: 5e-7 per hour is the quote's resolution
        assert abs(s.hourly_rate - Decimal(repr(venue.funding_rate(sym)))) <= Decimal("5e-7"), sym
        assert s.normalized_rate == s.raw_rate * 8
    # 24h volume and open interest in USD (OI comes in base units x mark)
    assert stats["ETH"].volume_24h_usd == Decimal("1670000000")
    assert abs(stats["ETH"].open_interest_usd / Decimal("1.2e8") - 1) < Decimal("0.01")
    assert abs(stats["BTC"].open_interest_usd / Decimal("3.5e8") - 1) < Decimal("0.01")
    assert adapter.normalize_symbol("1000PEPE") == "PEPE" and adapter.dex_symbol("ETH") == "ETH"


async def test_d12_market_stats_percent_matches_rest_fraction(lighter: dict[str, Any]) -> None:
    adapter = LighterFundingAdapter(lighter["ep"]["rest_url"])
    try:
        samples = await adapter.fetch_funding_rates()
    finally:
        await adapter.close()
    raw = await _market_stats_all(lighter["ep"]["ws_url"])
    for mid, entry in raw.items():
        st = msgspec.convert(entry, schemas.MarketStats, strict=False)
        assert str(st.market_id) == mid
        sample = samples[st.symbol]
        # market_stats: percent per hour; funding-rates: fraction per 8 h -> the same hourly fraction
        assert st.current_funding_rate / 100 == sample.raw_rate, st.symbol
        assert st.open_interest > 0
