"""Backpack funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Units (docs/exchanges/backpack.md §2.2, §3.4, §3.5, §3.7, §8; docs.backpack.exchange, Markets):

* ``GET /api/v1/markets``: ``fundingInterval`` in **milliseconds** per market (hourly since
  2025-08-20, but always read, never assumed); ``interval_hours = fundingInterval / 3 600 000``.
* ``GET /api/v1/markPrices``: ``fundingRate`` is a fraction **per interval** (the one ending at
  ``nextFundingTimestamp``, milliseconds); ``markPrice`` USD per contract unit.
* ``GET /api/v1/fundingRates`` (history; ``symbol``, ``limit`` <= 1000, ``offset``; no time
  filter; newest first): settled ``fundingRate`` per interval (the market's current
  ``fundingInterval``), ``intervalEndTimestamp`` naive ISO-8601 UTC.
* ``GET /api/v1/tickers``: ``quoteVolume`` USDC (= USD) per rolling 24 h.
* ``GET /api/v1/openInterest``: ``openInterest`` in **base units** (contracts): USD = × mark.

Thousand-unit markets (``kBONK``) keep contract units in ``mark_price``;
``metadata["multiplier"]`` gives the bundle size.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from ...errors import ExchangeError
from ...models import FundingRateSample, MarketStats, SettledFunding
from ..base import ExchangeSettings, RestFundingAdapter
from ..history import describe, request_page
from . import schemas
from .rest import EXCHANGE, BackpackRest
from .symbols import BackpackSymbols, normalize_symbol

log = logging.getLogger(__name__)

MS_PER_HOUR = Decimal(3_600_000)


def interval_hours(market: schemas.Market) -> Decimal | None:
    """``fundingInterval`` (ms, number or string) -> hours; None when absent or not positive."""
    raw = market.fundingInterval
    if raw is None or raw == "":
        return None
    try:
        ms = Decimal(str(raw))
    except ArithmeticError:
        return None
    return ms / MS_PER_HOUR if ms > 0 else None


def ms_to_datetime(ms: int | str | None) -> datetime | None:
    """Epoch milliseconds (number or string) -> aware UTC datetime; None when absent/invalid."""
    if ms is None or ms == "":
        return None
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_naive_iso(s: str) -> datetime:
    """Backpack's naive ISO-8601 UTC (``2025-08-01T16:00:00``, optional fraction) -> aware UTC."""
    dt = datetime.fromisoformat(s)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


HISTORY_PATH = "/api/v1/fundingRates"
HISTORY_LIMIT = 1000  # rows per request (ccxt's "api maximum 1000")


async def funding_history_pages(rest: BackpackRest, symbol: str, dex_symbol: str,
                                since: datetime, until: datetime | None) -> AsyncIterator[list[SettledFunding]]:
    """Settled rates of ``dex_symbol`` (reported as canonical ``symbol``) in [since, until]. The
    endpoint lists newest first with offsets only, so pages are read back to ``since`` first and
    then handed over oldest first, one list per request read (an interruption before the end
    loses this symbol's pages: a handful of requests). Interval: the market's ``fundingInterval``
    (:func:`interval_hours`, as live)."""
    until = until or datetime.now(UTC)
    markets_params = {"marketType": "PERP"}
    markets = await request_page(EXCHANGE, describe("/api/v1/markets", markets_params),
                                 lambda: rest.get("/api/v1/markets", markets_params))
    market = next((m for m in perp_markets(markets, BackpackSymbols()).values() if m.symbol == dex_symbol), None)
    hours = interval_hours(market) if market is not None else None
    if hours is None:
        raise ExchangeError(f"funding history: market {dex_symbol} has no fundingInterval in GET /api/v1/markets",
                            exchange=EXCHANGE)
    pages: list[list[SettledFunding]] = []
    offset = 0
    while True:
        params = {"symbol": dex_symbol, "limit": HISTORY_LIMIT, "offset": offset}

        async def call(p: dict[str, Any] = params) -> list[schemas.FundingRateRow]:
            return await rest.get(HISTORY_PATH, p, into=schemas.funding_rates)

        page = await request_page(EXCHANGE, describe(HISTORY_PATH, params), call)
        try:
            rows = [SettledFunding(EXCHANGE, symbol, parse_naive_iso(r.intervalEndTimestamp), r.fundingRate, hours,
                                   None, f"GET {HISTORY_PATH}") for r in page if r.symbol == dex_symbol]
        except ValueError as exc:
            raise ExchangeError(f"funding history {describe(HISTORY_PATH, params)}: bad time ({exc})",
                                exchange=EXCHANGE) from None
        pages.append(sorted((r for r in rows if since <= r.funding_time <= until), key=lambda r: r.funding_time))
        if len(page) < HISTORY_LIMIT or not rows or min(r.funding_time for r in rows) < since:
            break
        offset += len(page)
    for chunk in reversed(pages):
        if chunk:
            yield chunk


def perp_markets(body: bytes, symbols: BackpackSymbols) -> dict[str, schemas.Market]:
    """The ``PERP`` rows of a ``/api/v1/markets`` body, open or not (spot and other market types
    dropped), registered in ``symbols``: canonical symbol -> row. The one reading of that payload
    (client catalog, feed, funding adapter, funding history)."""
    out: dict[str, schemas.Market] = {}
    for m in schemas.markets.decode(body):
        if m.marketType != "PERP":
            continue
        sym = symbols.add(m.symbol)
        if sym is not None:
            out[sym] = m
    return out


def active_perps(body: bytes, symbols: BackpackSymbols) -> dict[str, schemas.Market]:
    """Open, visible ``PERP`` rows of a ``/api/v1/markets`` body (see :func:`perp_markets`)."""
    return {sym: m for sym, m in perp_markets(body, symbols).items() if m.orderBookState == "Open" and m.visible}


def funding_samples(markets: dict[str, schemas.Market], marks: list[schemas.MarkPrice],
                    symbols: BackpackSymbols) -> dict[str, FundingRateSample]:
    """Samples with ``raw_rate`` = ``fundingRate`` (fraction per interval), ``interval_hours``
    from the market's ``fundingInterval``, ``normalized_rate`` per 8 h, ``next_funding_time``
    from ``nextFundingTimestamp`` (UTC), ``mark_price`` USD. Rows without a funding rate, of
    unknown markets, or whose market gives no interval are skipped (logged)."""
    out: dict[str, FundingRateSample] = {}
    for row in marks:
        sym = symbols.listed(row.symbol)
        market = markets.get(sym) if sym is not None else None
        if sym is None or market is None:
            continue
        sample = funding_sample(sym, market, row, symbols.multiplier(sym))
        if sample is not None:
            out[sym] = sample
    return out


def funding_sample(sym: str, market: schemas.Market, row: schemas.MarkPrice, multiplier: int,
                   source: str = "markPrices") -> FundingRateSample | None:
    """One sample from a ``markPrices`` row (or a ``markPrice.<symbol>`` stream event read into
    one, :func:`mark_row_from_event`): ``raw_rate`` = ``fundingRate`` per the ``market``'s
    ``fundingInterval``, ``next_funding_time`` UTC, ``mark_price`` USD. None without a rate or an
    interval (logged). The one normalization path of Backpack's live funding (REST and WS)."""
    if row.fundingRate is None:
        return None
    hours = interval_hours(market)
    if hours is None:
        log.warning("%s %s: market has no fundingInterval; funding sample skipped", EXCHANGE, sym)
        return None
    return FundingRateSample.from_interval_rate(
        EXCHANGE, sym, row.fundingRate, hours,
        next_funding_time=ms_to_datetime(row.nextFundingTimestamp), mark_price=row.markPrice,
        metadata={"dex_symbol": row.symbol, "index_price": row.indexPrice, "source": source,
                  "funding_interval_ms": market.fundingInterval, "multiplier": multiplier},
    )


def mark_row_from_event(ev: schemas.MarkPriceEvent) -> schemas.MarkPrice:
    """A ``markPrice`` stream event (``p`` mark, ``i`` index, ``f`` funding rate per interval,
    ``n`` next funding time ms; decimal strings) as the ``markPrices`` row it mirrors. Raises
    ValueError on a field that is not a number."""
    try:
        return schemas.MarkPrice(symbol=ev.s, markPrice=Decimal(ev.p),
                                 indexPrice=Decimal(ev.i) if ev.i not in (None, "") else None,
                                 fundingRate=Decimal(ev.f) if ev.f not in (None, "") else None,
                                 nextFundingTimestamp=ev.n)
    except ArithmeticError:
        raise ValueError(f"markPrice event for {ev.s}: a field is not a number") from None


def market_stats(markets: dict[str, schemas.Market], tickers: list[schemas.Ticker], ois: list[schemas.OpenInterest],
                 marks: list[schemas.MarkPrice], symbols: BackpackSymbols) -> dict[str, MarketStats]:
    """24 h volume = ticker ``quoteVolume`` (USD); open interest USD = ``openInterest`` (base
    units) × mark price. Markets missing from a list count 0 for that figure."""
    mark_by = {r.symbol: r.markPrice for r in marks}
    vol_by = {t.symbol: t.quoteVolume for t in tickers}
    oi_by = {o.symbol: o.openInterest or Decimal(0) for o in ois}
    out = {}
    for sym, m in markets.items():
        dex = m.symbol
        out[sym] = MarketStats(EXCHANGE, sym, vol_by.get(dex, Decimal(0)),
                               oi_by.get(dex, Decimal(0)) * mark_by.get(dex, Decimal(0)))
    return out


class BackpackFundingAdapter(RestFundingAdapter):
    """Funding samples and market statistics from Backpack's public REST API.

    Takes the exchange's :class:`ExchangeSettings` (or a REST base URL); the URL defaults to
    ``https://api.backpack.exchange``, the sim points it at the emulator. Errors are the typed
    ones of :class:`~perpdex.exchanges.backpack.rest.BackpackRest`; a malformed body raises
    :class:`~perpdex.errors.ExchangeError` ("unexpected answer") or, for the markets list,
    ``msgspec.ValidationError``/``DecodeError``, naming the field."""

    name = EXCHANGE
    rest_class = BackpackRest

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = BackpackSymbols()

    async def _markets(self) -> dict[str, schemas.Market]:
        return active_perps(await self.rest.get("/api/v1/markets", {"marketType": "PERP"}), self.symbols)

    async def _marks(self) -> list[schemas.MarkPrice]:
        return await self.rest.get("/api/v1/markPrices", into=schemas.mark_prices)

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (see :func:`funding_samples`)."""
        markets = await self._markets()
        return funding_samples(markets, await self._marks(), self.symbols)

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24 h volume and open interest, both USD (see :func:`market_stats`)."""
        markets = await self._markets()
        tickers = await self.rest.get("/api/v1/tickers", into=schemas.tickers)
        ois = await self.rest.get("/api/v1/openInterest", into=schemas.open_interest)
        return market_stats(markets, tickers, ois, await self._marks(), self.symbols)

    def normalize_symbol(self, dex_symbol: str) -> str:
        return normalize_symbol(dex_symbol)

    def dex_symbol(self, normalized_symbol: str) -> str:
        return self.symbols.name(normalized_symbol)

