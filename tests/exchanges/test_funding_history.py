"""Every exchange client's funding history against its emulator over loopback: the rows equal the
venue's generated settlements after normalization (sign, units, intervals), paging walks many
pages, a rate-limited endpoint is retried and, when it keeps refusing, ends in an error naming
the exchange and the request; the live adapters and the history path share one normalizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from perpdex.errors import RateLimited
from perpdex.exchanges import registry
from perpdex.exchanges.aster import funding as aster_funding
from perpdex.exchanges.aster.schemas import FundingRateRow as AsterRow
from perpdex.exchanges.backpack import funding as backpack_funding
from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.http import budget_for
from perpdex.exchanges.lighter import funding as lighter_funding
from perpdex.exchanges.lighter import schemas as lighter_schemas
from perpdex.exchanges.paradex import funding as paradex_funding
from perpdex.exchanges.paradex import schemas as paradex_schemas
from perpdex.models import FundingRateSample
from perpdex.sim.server import start_emulators

EXCHANGES = ["aster", "lighter", "backpack", "paradex"]
HOUR = timedelta(hours=1)


@pytest.fixture
async def cluster():
    """Every venue on loopback with the market process stopped: only the generated past exists."""
    c = await start_emulators(run_market=False)
    try:
        yield c
    finally:
        await c.stop()


def _client(cluster, name: str):
    ep = cluster.endpoints[name]
    return registry.client_class(name)(ExchangeSettings(name, ep["rest_url"], ep["ws_url"], options={"ccxt": ep["ccxt"]}))


def _start(venue) -> datetime:
    return datetime.fromtimestamp(venue.started_ms / 1000, tz=UTC)


def expected(name: str, venue, symbol: str, since: datetime, until: datetime) -> list[tuple[datetime, Decimal, Decimal]]:
    """(settlement time, fraction per interval, interval hours) the venue generated, as each
    exchange quotes it on the wire (its decimals), normalized back."""
    m = venue.market(symbol)
    if name == "paradex":  # hourly values, each the mean of the hour's identical observations
        path = venue.funding_history(symbol, step_hours=1)
        hours = Decimal(1)
        quote = [Decimal(repr(round(r, 14))) / Decimal(repr(m.funding_interval_hours)) for r in path.rates]
    else:
        path = venue.funding_history(symbol)
        hours = Decimal(repr(m.funding_interval_hours)).normalize()
        if name == "aster":
            quote = [Decimal(f"{r:.8f}") for r in path.rates]
        elif name == "backpack":
            quote = [Decimal(f"{r:.10f}") for r in path.rates]
        else:  # lighter: unsigned percent per hour, 4 decimals, sign from the direction
            quote = [Decimal(f"{abs(r) / m.funding_interval_hours * 100:.4f}") / 100 * (1 if r >= 0 else -1)
                     for r in path.rates]
    out = []
    for t, q in zip(path.times_ms, quote):
        ts = datetime.fromtimestamp(t / 1000, tz=UTC)
        if since <= ts <= until:
            out.append((ts, q, hours))
    return out


@pytest.mark.parametrize("name", EXCHANGES)
async def test_history_equals_the_generated_settlements(cluster, name):
    venue = cluster.sim.venues[name]
    until = _start(venue)
    since = until - timedelta(days=4)
    client = _client(cluster, name)
    try:
        rows = await client.fetch_funding_history("BTC", since, until)
        rows_xrp = await client.fetch_funding_history("XRP", since, until)
    finally:
        await client.close()
    for symbol, got in (("BTC", rows), ("XRP", rows_xrp)):
        want = expected(name, venue, symbol, since, until)
        assert len(want) >= 12
        assert [(r.funding_time, r.rate, r.interval_hours) for r in got] == want, symbol
        assert all(r.exchange == name and r.symbol == symbol and r.source.startswith("GET /") for r in got)
        assert all(r.rate_8h == r.rate * 8 / r.interval_hours for r in got)
    if name == "aster":  # markPrice rides with Aster's rows; the newest is the start price
        assert rows[-1].mark_price == Decimal(f"{venue.index.start_prices['BTC']:.1f}")


@pytest.mark.parametrize("name", EXCHANGES)
async def test_history_walks_many_pages(cluster, name, monkeypatch):
    """Small pages (our own paging constants) over 3 days: many requests, no row lost or doubled."""
    small = {"aster": (aster_funding, "HISTORY_LIMIT", 1), "backpack": (backpack_funding, "HISTORY_LIMIT", 8),
             "lighter": (lighter_funding, "HISTORY_WINDOW_MS", 8 * 3_600_000),
             "paradex": (paradex_funding, "HISTORY_PAGE_SIZE", 50)}[name]
    monkeypatch.setattr(*small)
    venue = cluster.sim.venues[name]
    until = _start(venue)
    since = until - timedelta(days=3)
    client = _client(cluster, name)
    try:
        pages = [p async for p in client.fetch_funding_history_pages("ETH", since, until)]
    finally:
        await client.close()
    rows = [r for p in pages for r in p]
    assert len(pages) >= 8
    assert [(r.funding_time, r.rate, r.interval_hours) for r in sorted(rows, key=lambda r: r.funding_time)] == \
        expected(name, venue, "ETH", since, until)
    if name != "backpack":  # walked forward: each page is newer than the one before
        assert all(a[-1].funding_time < b[0].funding_time for a, b in zip(pages, pages[1:]))


@pytest.mark.parametrize("name", EXCHANGES)
async def test_rate_limits_are_retried_then_reported_with_the_request(cluster, name, monkeypatch):
    budget = budget_for(name)
    monkeypatch.setattr(budget, "base_backoff", 0.001)
    monkeypatch.setattr(budget, "max_backoff", 0.002)
    venue = cluster.sim.venues[name]
    until = _start(venue)
    client = _client(cluster, name)
    try:
        await client.contract_attributes("BTC")
        venue.faults.inject("http429", count=2)
        rows = await client.fetch_funding_history("BTC", until - timedelta(days=2), until)
        assert len(rows) == len(expected(name, venue, "BTC", until - timedelta(days=2), until)) > 0
        venue.faults.inject("http429", count=50)
        with pytest.raises(RateLimited) as info:
            await client.fetch_funding_history("BTC", until - timedelta(days=2), until)
    finally:
        venue.faults.clear()
        await client.close()
    message = str(info.value)
    assert message.startswith(f"[{name}] funding history GET /") and "many requests" in message.lower(), message
    assert info.value.exchange == name


# -- one normalizer: the live adapters' functions and the history rows agree ---------------------
def test_aster_history_and_live_normalize_alike():
    hours, _ = aster_funding.interval_of({"XRPUSDT": Decimal(4)}, "XRPUSDT")
    [row] = aster_funding.settled_rows("XRP", [AsterRow("XRPUSDT", Decimal("0.00012"), 1_700_000_000_000)], hours)
    live = FundingRateSample.from_interval_rate("aster", "XRP", Decimal("0.00012"), hours)
    assert (row.rate, row.interval_hours, row.rate_8h) == (live.raw_rate, live.interval_hours, live.normalized_rate)
    assert row.rate_8h == Decimal("0.00024")
    assert aster_funding.interval_of({}, "XRPUSDT")[0] == Decimal(8)  # the documented default, as live


@pytest.mark.parametrize("percent,direction,fraction", [("0.0012", "long", "0.000012"), ("0.0012", "short", "-0.000012")])
def test_lighter_history_and_live_normalize_alike(percent, direction, fraction):
    row = lighter_schemas.FundingRow(timestamp=1_700_000_000, rate=Decimal(percent), direction=direction)
    hourly = lighter_funding.hourly_from_fundings(row)
    assert hourly == Decimal(fraction)
    assert abs(hourly) == lighter_funding.hourly_from_percent(Decimal(percent))  # market_stats, live
    assert abs(hourly) == lighter_funding.hourly_from_8h(Decimal(percent) * 8 / 100)  # funding-rates, live
    with pytest.raises(ValueError, match="direction"):
        lighter_funding.hourly_from_fundings(lighter_schemas.FundingRow(timestamp=1, rate=Decimal(1), direction="up"))


def test_paradex_history_and_live_normalize_alike():
    row = paradex_schemas.FundingData(market="BTC-USD-PERP", funding_rate="0.0001", funding_period_hours=Decimal(8),
                                      created_at=1_700_000_100_000)
    live = paradex_funding.sample_from_funding_data(row, "BTC", None)
    [hourly] = paradex_funding.hourly_means([row, row], "BTC", None)
    assert hourly.rate_8h == live.normalized_rate == Decimal("0.0001")
    assert hourly.interval_hours == 1 and hourly.rate == Decimal("0.0000125")
    assert hourly.funding_time == datetime.fromtimestamp(1_700_002_800, tz=UTC)  # the hour's end
