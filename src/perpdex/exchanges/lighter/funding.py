"""Lighter funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Units (docs/exchanges/lighter.md §3.4, §4.4, §8; https://docs.lighter.xyz/trading/funding):

* Lighter pays funding **every hour**.
* ``GET /api/v1/funding-rates`` quotes ``rate`` as a **fraction per 8 hours** and mixes in other
  venues' rows (kept only when ``exchange == "lighter"``): the per-interval (1 h) fraction is
  ``rate / 8``.
* ``market_stats`` (WebSocket) quotes ``current_funding_rate`` in **percent per hour**: the
  fraction is ``value / 100`` (:func:`hourly_from_percent`).
* ``GET /api/v1/fundings`` (history; ``market_id``, ``resolution=1h``, ``start_timestamp`` /
  ``end_timestamp`` ms, at most 750 rows a call): ``rate`` **percent per hour**, unsigned, the
  sign given by ``direction`` (the side that paid: ``long`` -> positive), ``timestamp`` seconds
  (:func:`hourly_from_fundings`; units from a third-party reading, not stated officially).
* ``orderBookDetails``: ``daily_quote_token_volume`` is USDC (= USD) per 24 h; ``open_interest``
  is in **base units** there, so the USD figure is ``open_interest × mark_price``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from ...errors import ExchangeError
from ...models import FundingRateSample, MarketStats, SettledFunding
from ..base import ExchangeSettings, RestFundingAdapter
from ..history import describe, from_ms, request_page, to_ms
from . import schemas
from .rest import EXCHANGE, LighterRest
from .symbols import LighterSymbols, normalize_symbol

log = logging.getLogger(__name__)

INTERVAL_HOURS = Decimal(1)
EIGHT = Decimal(8)


RATE_QUANTUM = Decimal("1e-12")


def hourly_from_8h(rate_8h: Decimal) -> Decimal:
    """``funding-rates`` fraction per 8 h -> fraction per 1 h interval. The float on the wire
    carries binary noise (``0.00009599999999999999`` for 0.0012 %/h), so the 8 h rate is first
    rounded to 1e-12 (far below the 1e-6 resolution of the percent quote it comes from)."""
    return rate_8h.quantize(RATE_QUANTUM) / EIGHT


def hourly_from_percent(percent_per_hour: Decimal) -> Decimal:
    """``market_stats`` percent per hour (``"0.0012"``) -> fraction per hour (0.000012)."""
    return percent_per_hour / Decimal(100)


def hourly_from_fundings(row: schemas.FundingRow) -> Decimal:
    """A ``fundings`` history row -> signed fraction per hour: :func:`hourly_from_percent` of the
    unsigned ``rate``, positive when longs paid (``direction == "long"``). Raises ValueError on
    another direction."""
    fraction = hourly_from_percent(abs(row.rate))
    if row.direction == "long":
        return fraction
    if row.direction == "short":
        return -fraction
    raise ValueError(f"fundings row at {row.timestamp}: unknown direction {row.direction!r}")


def next_hour(now: datetime | None = None) -> datetime:
    """The next top of the hour (UTC), when Lighter settles funding."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


HISTORY_PATH = "/api/v1/fundings"
FUNDINGS_MAX = 750  # rows per answer (protocol doc §3.5)
HISTORY_WINDOW_MS = 720 * 3_600_000  # 30 days of hourly rows a request: below the cap


async def funding_history_pages(rest: LighterRest, symbol: str, market_id: int,
                                since: datetime, until: datetime | None) -> AsyncIterator[list[SettledFunding]]:
    """Settled hourly funding of ``market_id`` (reported as canonical ``symbol``) in [since,
    until], one list per request, oldest first: windows of :data:`HISTORY_WINDOW_MS` walked
    forward, a window halved when its answer reaches the 750-row cap (which rows the cap keeps is
    not documented)."""
    start, end = to_ms(since), to_ms(until or datetime.now(UTC))
    window = HISTORY_WINDOW_MS
    while start <= end:
        stop = min(start + window - 1, end)
        params = {"market_id": market_id, "resolution": "1h", "start_timestamp": start, "end_timestamp": stop,
                  "count_back": 0}

        async def call(p: dict[str, Any] = params) -> list[SettledFunding]:
            body = await rest.get(HISTORY_PATH, p, into=schemas.fundings)
            return [SettledFunding(EXCHANGE, symbol, from_ms(r.timestamp * 1000), hourly_from_fundings(r), INTERVAL_HOURS,
                                   None, f"GET {HISTORY_PATH}") for r in body.fundings]

        try:
            rows = await request_page(EXCHANGE, describe(HISTORY_PATH, params), call)
        except ValueError as exc:  # a direction that is neither long nor short
            raise ExchangeError(f"funding history {describe(HISTORY_PATH, params)}: {exc}", exchange=EXCHANGE) from None
        if len(rows) >= FUNDINGS_MAX and window > 3_600_000:
            window //= 2
            continue
        rows = sorted((r for r in rows if start <= to_ms(r.funding_time) <= stop), key=lambda r: r.funding_time)
        if rows:
            yield rows
        start = stop + 1


def perp_details(details_body: bytes, symbols: LighterSymbols) -> dict[str, schemas.OrderBookDetail]:
    """The perps of an ``orderBookDetails`` body, active or not (the spot list is ignored),
    registered in ``symbols``: canonical symbol -> detail. The one reading of that payload
    (client catalog, feed catalog, funding adapter)."""
    out: dict[str, schemas.OrderBookDetail] = {}
    for d in schemas.order_book_details.decode(details_body).order_book_details:
        if d.market_type == "perp":
            symbol = symbols.add(d.symbol, d.market_id)
            if symbol is not None:
                out[symbol] = d
    return out


def active_perps(details_body: bytes, symbols: LighterSymbols) -> list[schemas.OrderBookDetail]:
    """Active perps of an ``orderBookDetails`` body (spot and inactive markets dropped),
    registered in ``symbols`` (see :func:`perp_details`)."""
    return [d for d in perp_details(details_body, symbols).values() if d.status == "active"]


def mark_of(d: schemas.OrderBookDetail) -> Decimal:
    """Mark price (USD per Lighter unit): ``mark_price`` when present, else the last trade."""
    return d.mark_price if d.mark_price is not None and d.mark_price > 0 else d.last_trade_price


def funding_samples(rates: schemas.FundingRatesResponse, details: list[schemas.OrderBookDetail],
                    symbols: LighterSymbols, next_funding: datetime) -> dict[str, FundingRateSample]:
    """Samples with ``raw_rate`` the fraction per **1 h** interval (``funding-rates`` rate / 8),
    ``interval_hours`` 1, ``normalized_rate`` per 8 h, ``next_funding_time`` = ``next_funding``
    (UTC), ``mark_price`` USD per Lighter unit (for a ``1000PEPE`` bundle: per 1 000 PEPE, as
    the client's books and orders; ``metadata["multiplier"]`` gives the bundle size).
    Rows of other venues and of markets not in ``details`` are skipped."""
    by_id = {d.market_id: d for d in details}
    out: dict[str, FundingRateSample] = {}
    for row in rates.funding_rates:
        d = by_id.get(row.market_id)
        if row.exchange != EXCHANGE or d is None:
            continue
        symbol = symbols.symbol_of_id(row.market_id)
        out[symbol] = funding_sample(symbol, row.market_id, hourly_from_8h(row.rate), next_funding, mark_of(d),
                                     symbols.multiplier(symbol), "funding-rates", rate_8h=row.rate)
    return out


def funding_sample(symbol: str, market_id: int, hourly_rate: Decimal, next_funding: datetime | None,
                   mark: Decimal | None, multiplier: int, source: str, **extra: Any) -> FundingRateSample:
    """One sample of a Lighter market: ``hourly_rate`` fraction per the 1 h interval (from
    :func:`hourly_from_8h` for ``funding-rates``, :func:`hourly_from_percent` for
    ``market_stats``), ``next_funding`` UTC, ``mark`` USD per Lighter unit; ``source`` and
    ``extra`` go into ``metadata``. The one normalization path of Lighter's live funding."""
    return FundingRateSample.from_interval_rate(
        EXCHANGE, symbol, hourly_rate, INTERVAL_HOURS, next_funding_time=next_funding, mark_price=mark,
        metadata={"market_id": market_id, "source": source, "multiplier": multiplier, **extra},
    )


def sample_from_market_stats(symbol: str, stats: schemas.MarketStats, multiplier: int) -> FundingRateSample:
    """A ``market_stats`` entry (WebSocket) -> sample: ``current_funding_rate`` (percent per hour,
    the estimate for the coming payment) as the rate; the next payment is the top of the hour
    after ``funding_timestamp`` (ms, the last settlement; None when 0); ``mark_price`` USD; the
    last settled rate (fraction per hour) in ``metadata["settled_rate"]``."""
    nft = (next_hour(datetime.fromtimestamp(stats.funding_timestamp / 1000, tz=UTC))
           if stats.funding_timestamp > 0 else None)
    return funding_sample(symbol, stats.market_id, hourly_from_percent(stats.current_funding_rate), nft,
                          stats.mark_price if stats.mark_price > 0 else None, multiplier, "market_stats stream",
                          settled_rate=hourly_from_percent(stats.funding_rate), index_price=stats.index_price)


def market_stats(details: list[schemas.OrderBookDetail], symbols: LighterSymbols) -> dict[str, MarketStats]:
    """24 h volume = ``daily_quote_token_volume`` (USD); open interest USD = ``open_interest``
    (base units in orderBookDetails) × mark price."""
    out: dict[str, MarketStats] = {}
    for d in details:
        symbol = symbols.symbol_of_id(d.market_id)
        out[symbol] = MarketStats(EXCHANGE, symbol, d.daily_quote_token_volume, d.open_interest * mark_of(d))
    return out


class LighterFundingAdapter(RestFundingAdapter):
    """Funding samples (hourly interval) and market statistics from Lighter's public REST API.

    Takes the exchange's :class:`ExchangeSettings` (or just a REST base URL); the URL defaults
    to mainnet, the sim points it at the emulator."""

    name = EXCHANGE
    rest_class = LighterRest

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = LighterSymbols()

    async def _details(self) -> list[schemas.OrderBookDetail]:
        return active_perps(await self.rest.get("/api/v1/orderBookDetails"), self.symbols)

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (see :func:`funding_samples`)."""
        details = await self._details()
        rates = await self.rest.get("/api/v1/funding-rates", into=schemas.funding_rates)
        return funding_samples(rates, details, self.symbols, next_hour())

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24 h volume and open interest, both USD (see :func:`market_stats`)."""
        return market_stats(await self._details(), self.symbols)

    def normalize_symbol(self, dex_symbol: str) -> str:
        return normalize_symbol(dex_symbol)

    def dex_symbol(self, normalized_symbol: str) -> str:
        return self.symbols.name(normalized_symbol)

