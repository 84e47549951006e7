"""Paradex funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Units (docs/exchanges/paradex.md §0 items 2 and 11, §3.3, §3.4, §8;
https://docs.paradex.trade/risk/funding-mechanism):

* Funding is **continuous** (the rate is recomputed every second and accrues into the funding
  index); there is no settlement time, so ``next_funding_time`` is None.
* ``funding_rate`` (markets summary, ``funding_data``) is the raw fraction for **one funding period
  of the market**, ``funding_period_hours`` from ``GET /v1/markets`` (usually 8, not always).
  8 h rate = ``r × 8 / P``; APR = ``r × 8760 / P``.
* ``/v1/funding/data`` rows are per-second *observations* of that same rate, not settlements:
  the current rate is the **latest** row (:func:`latest_rate`); summing a day of rows would
  overstate it 28 800-fold (8 h of seconds) and is never done here.
* History (``GET /v1/funding/data`` with ``start_at``/``end_at`` ms, ``page_size`` <= 5000,
  ``next`` cursor): :func:`funding_history_pages` reduces the observations to **one value per
  hour**, the mean of the hour's observations as a fraction per hour (``funding_rate / P``), with
  ``funding_time`` the end of the hour and ``interval_hours`` 1.
* ``volume_24h`` is USD; ``open_interest`` is **base units** (USD = × mark price).
* ``k``-prefixed markets (``kBONK``) quote prices per 1 000 tokens; samples keep the exchange's
  units and carry ``metadata["multiplier"]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from ...errors import ExchangeError
from ...models import FundingRateSample, MarketStats, SettledFunding
from ..base import ExchangeSettings, RestFundingAdapter
from ..history import describe, from_ms, request_page, to_ms
from . import schemas
from .rest import EXCHANGE, ParadexRest
from .symbols import ParadexSymbols, normalize_symbol

log = logging.getLogger(__name__)

DEFAULT_PERIOD_HOURS = Decimal(8)


def perp_markets(body: bytes, symbols: ParadexSymbols) -> dict[str, schemas.Market]:
    """Perpetuals of a ``/v1/markets`` body (options and other kinds dropped), registered in
    ``symbols``: canonical symbol -> market."""
    out: dict[str, schemas.Market] = {}
    for m in schemas.markets_decoder.decode(body).results:
        if m.asset_kind != "PERP":
            continue
        symbol = symbols.add(m.symbol)
        if symbol is None:
            log.warning("%s: skipped unrecognised perp market name %r", EXCHANGE, m.symbol)
        else:
            out[symbol] = m
    return out


def period_hours(market: schemas.Market | None, fallback: Decimal | None = None) -> Decimal:
    """The market's funding period in hours (``funding_period_hours``; 0/absent -> ``fallback``
    or 8)."""
    p = market.funding_period_hours if market is not None else None
    if p is None or p <= 0:
        return fallback if fallback is not None and fallback > 0 else DEFAULT_PERIOD_HOURS
    return p


def latest_rate(rows: Iterable[schemas.FundingData]) -> schemas.FundingData | None:
    """The most recent ``funding_data`` observation (highest ``created_at``), or None. Rows are
    observations of one continuously updated rate, so this is the current rate — never a sum."""
    best: schemas.FundingData | None = None
    for r in rows:
        if schemas.dec(r.funding_rate) is None:
            continue
        if best is None or r.created_at > best.created_at:
            best = r
    return best


def funding_data_rate(row: schemas.FundingData, market: schemas.Market | None) -> tuple[Decimal, Decimal]:
    """(``funding_rate``, its period in hours) of one ``funding_data`` row: the row's
    ``funding_period_hours``, else the market's, else 8. Raises ValueError without a rate."""
    rate = schemas.dec(row.funding_rate)
    if rate is None:
        raise ValueError(f"{row.market}: funding_data row without a rate")
    return rate, row.funding_period_hours if row.funding_period_hours > 0 else period_hours(market)


def sample_from_funding_data(row: schemas.FundingData, symbol: str, market: schemas.Market | None,
                             multiplier: int = 1, source: str = "funding_data") -> FundingRateSample:
    """A sample from one ``funding_data`` row (REST ``/v1/funding/data`` or the WebSocket push):
    raw = ``funding_rate`` per the row's period (:func:`funding_data_rate`);
    ``metadata["rate_8h"]`` the exchange's own normalised figure when present; ``source`` names
    where the row came from."""
    rate, p = funding_data_rate(row, market)
    return FundingRateSample.from_interval_rate(
        EXCHANGE, symbol, rate, p, next_funding_time=None,
        metadata={"market": row.market, "rate_8h": schemas.dec(row.funding_rate_8h), "continuous": True,
                  "source": source, "multiplier": multiplier})


def funding_samples(summaries: schemas.SummaryResponse, markets: dict[str, schemas.Market],
                    symbols: ParadexSymbols) -> dict[str, FundingRateSample]:
    """Samples from a markets summary: ``raw_rate`` = ``funding_rate`` per the market's
    ``funding_period_hours``, ``normalized_rate`` per 8 h, ``next_funding_time`` None (continuous
    funding), ``mark_price`` USD per exchange unit. Rows without a rate, of options or of
    unlisted markets are skipped."""
    out: dict[str, FundingRateSample] = {}
    for s in summaries.results:
        sym = symbols.listed(s.symbol)
        rate = schemas.dec(s.funding_rate)
        if sym is None or sym not in markets or rate is None:
            continue
        out[sym] = FundingRateSample.from_interval_rate(
            EXCHANGE, sym, rate, period_hours(markets[sym]), next_funding_time=None,
            mark_price=schemas.dec(s.mark_price),
            metadata={"market": s.symbol, "continuous": True, "source": "markets/summary",
                      "multiplier": symbols.multiplier(sym)})
    return out


def market_stats(summaries: schemas.SummaryResponse, markets: dict[str, schemas.Market],
                 symbols: ParadexSymbols) -> dict[str, MarketStats]:
    """24 h volume = ``volume_24h`` (USD); open interest USD = ``open_interest`` (base units) ×
    ``mark_price``."""
    out: dict[str, MarketStats] = {}
    for s in summaries.results:
        sym = symbols.listed(s.symbol)
        if sym is None or sym not in markets:
            continue
        mark = schemas.dec(s.mark_price, Decimal(0)) or Decimal(0)
        out[sym] = MarketStats(EXCHANGE, sym, schemas.dec(s.volume_24h, Decimal(0)) or Decimal(0),
                               (schemas.dec(s.open_interest, Decimal(0)) or Decimal(0)) * mark)
    return out


HISTORY_PATH = "/funding/data"
HISTORY_PAGE_SIZE = 5000  # the endpoint's maximum (protocol doc §3.4)
HOUR_MS = 3_600_000
MAX_WINDOW_HOURS = 24 * 7


def hourly_means(rows: Iterable[schemas.FundingData], symbol: str,
                 market: schemas.Market | None) -> list[SettledFunding]:
    """Observations -> one row per hour they fall in (``[H - 1 h, H)`` -> ``funding_time`` H):
    the mean of ``funding_rate / period`` (fraction per hour, ``interval_hours`` 1), oldest
    first. Rows without a rate are skipped."""
    sums: dict[int, tuple[Decimal, int]] = {}
    for r in rows:
        if schemas.dec(r.funding_rate) is None:
            continue
        rate, p = funding_data_rate(r, market)
        end = r.created_at // HOUR_MS * HOUR_MS + HOUR_MS
        total, n = sums.get(end, (Decimal(0), 0))
        sums[end] = (total + rate / p, n + 1)
    return [SettledFunding(EXCHANGE, symbol, from_ms(end), total / n, Decimal(1), None, f"GET /v1{HISTORY_PATH}")
            for end, (total, n) in sorted(sums.items())]


async def funding_history_pages(rest: ParadexRest, symbol: str, market_name: str,
                                market: schemas.Market | None, since: datetime,
                                until: datetime | None) -> AsyncIterator[list[SettledFunding]]:
    """Hourly values (:func:`hourly_means`) of the hours ending in [since, until], oldest first:
    windows of whole hours walked forward, each read through its ``next`` cursors before its
    hours are handed over (one list per window). A window starts at one hour and doubles (up to a
    week) while its observations fit in half a page, halving when they needed several pages,
    so a dense history costs about one request per hour and a sparse one far fewer."""
    start = to_ms(since) // HOUR_MS * HOUR_MS  # the hour `since` falls in, read whole
    last = to_ms(until or datetime.now(UTC)) // HOUR_MS * HOUR_MS  # whole hours only
    hours = 1
    while start < last:
        stop = min(start + hours * HOUR_MS, last)
        rows: list[schemas.FundingData] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"market": market_name, "start_at": start, "end_at": stop - 1,
                                      "page_size": HISTORY_PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor

            async def call(p: dict[str, Any] = params) -> schemas.FundingDataResponse:
                return await rest.get(HISTORY_PATH, p, into=schemas.funding_data_decoder)

            page = await request_page(EXCHANGE, describe(f"/v1{HISTORY_PATH}", params), call)
            pages += 1
            rows.extend(page.results)
            cursor = page.next
            if not cursor or not page.results:
                break
        out = [r for r in hourly_means(rows, symbol, market) if start < to_ms(r.funding_time) <= stop
               and r.funding_time >= since]
        if out:
            yield out
        start = stop
        if pages > 1:
            hours = max(hours // 2, 1)
        elif len(rows) * 2 <= HISTORY_PAGE_SIZE:
            hours = min(hours * 2, MAX_WINDOW_HOURS)


class ParadexFundingAdapter(RestFundingAdapter):
    """Funding samples and market statistics from Paradex's public REST API.

    Takes the exchange's :class:`ExchangeSettings` (or a REST base URL ending in ``/v1``); it
    defaults to mainnet, the sim points it at the emulator."""

    name = EXCHANGE
    rest_class = ParadexRest

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = ParadexSymbols()
        self.markets: dict[str, schemas.Market] = {}

    async def load_markets(self) -> dict[str, schemas.Market]:
        """Read ``/v1/markets`` into :attr:`markets` (canonical -> perp market) and :attr:`symbols`."""
        self.markets = perp_markets(await self.rest.get("/markets"), self.symbols)
        return self.markets

    async def _load(self) -> tuple[dict[str, schemas.Market], schemas.SummaryResponse]:
        markets = await self.load_markets()
        return markets, await self.rest.get("/markets/summary", {"market": "ALL"}, into=schemas.summary_decoder)

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (see :func:`funding_samples`)."""
        markets, summaries = await self._load()
        return funding_samples(summaries, markets, self.symbols)

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24 h volume and open interest, both USD (see :func:`market_stats`)."""
        markets, summaries = await self._load()
        return market_stats(summaries, markets, self.symbols)

    async def fetch_current_rate(self, symbol: str) -> FundingRateSample:
        """The latest ``/v1/funding/data`` observation for ``symbol`` (see
        :func:`sample_from_funding_data`). Raises :class:`ExchangeError` when there is none."""
        if not self.markets:
            await self.load_markets()
        body = await self.rest.get("/funding/data", {"market": self.symbols.name(symbol), "page_size": 100},
                                   into=schemas.funding_data_decoder)
        row = latest_rate(body.results)
        if row is None:
            raise ExchangeError(f"{symbol}: no funding data", exchange=EXCHANGE)
        return sample_from_funding_data(row, symbol, self.markets.get(symbol), self.symbols.multiplier(symbol))

    def normalize_symbol(self, dex_symbol: str) -> str:
        return normalize_symbol(dex_symbol)

    def dex_symbol(self, normalized_symbol: str) -> str:
        return self.symbols.name(normalized_symbol)

