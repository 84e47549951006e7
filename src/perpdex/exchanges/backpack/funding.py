"""Backpack funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Units (shared/protocols/backpack.md §2.2, §3.4, §3.5, §3.7, §8; docs.backpack.exchange, Markets):

* ``GET /api/v1/markets``: ``fundingInterval`` in **milliseconds** per market (hourly since
  2025-08-20, but always read, never assumed); ``interval_hours = fundingInterval / 3 600 000``.
* ``GET /api/v1/markPrices``: ``fundingRate`` is a fraction **per interval** (the one ending at
  ``nextFundingTimestamp``, milliseconds); ``markPrice`` USD per contract unit.
* ``GET /api/v1/tickers``: ``quoteVolume`` USDC (= USD) per rolling 24 h.
* ``GET /api/v1/openInterest``: ``openInterest`` in **base units** (contracts): USD = × mark.

Thousand-unit markets (``kBONK``) keep contract units in ``mark_price``;
``metadata["multiplier"]`` gives the bundle size.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal

import aiohttp

from ...models import FundingRateSample, MarketStats
from ..base import ExchangeSettings, RestFundingAdapter
from . import schemas
from .feed import DEFAULT_REST_URL, get_json
from .symbols import BackpackSymbols, normalize_symbol

log = logging.getLogger(__name__)

EXCHANGE = "backpack"
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
        return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def active_perps(body: bytes, symbols: BackpackSymbols) -> dict[str, schemas.Market]:
    """Open, visible ``PERP`` rows of a ``/api/v1/markets`` body, registered in ``symbols``:
    canonical symbol -> row. Spot and other market types are dropped."""
    out: dict[str, schemas.Market] = {}
    for m in schemas.markets.decode(body):
        if m.marketType != "PERP" or m.orderBookState != "Open" or not m.visible:
            continue
        sym = symbols.add(m.symbol)
        if sym is not None:
            out[sym] = m
    return out


def funding_samples(markets: dict[str, schemas.Market], marks: list[schemas.MarkPrice],
                    symbols: BackpackSymbols) -> dict[str, FundingRateSample]:
    """Samples with ``raw_rate`` = ``fundingRate`` (fraction per interval), ``interval_hours``
    from the market's ``fundingInterval``, ``normalized_rate`` per 8 h, ``next_funding_time``
    from ``nextFundingTimestamp`` (UTC), ``mark_price`` USD. Rows without a funding rate, of
    unknown markets, or whose market gives no interval are skipped (logged)."""
    out: dict[str, FundingRateSample] = {}
    for row in marks:
        sym = symbols.by_dex.get(row.symbol)
        market = markets.get(sym) if sym is not None else None
        if sym is None or market is None or row.fundingRate is None:
            continue
        hours = interval_hours(market)
        if hours is None:
            log.warning("%s %s: market has no fundingInterval; funding sample skipped", EXCHANGE, sym)
            continue
        out[sym] = FundingRateSample.from_interval_rate(
            EXCHANGE, sym, row.fundingRate, hours,
            next_funding_time=ms_to_datetime(row.nextFundingTimestamp), mark_price=row.markPrice,
            metadata={"dex_symbol": row.symbol, "index_price": row.indexPrice, "source": "markPrices",
                      "funding_interval_ms": market.fundingInterval, "multiplier": symbols.multiplier(sym)},
        )
    return out


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
    ones of :func:`~perpdex.exchanges.backpack.feed.get_json`; malformed bodies raise
    ``msgspec.ValidationError``/``DecodeError`` naming the field."""

    name = EXCHANGE
    default_rest_url = DEFAULT_REST_URL

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = BackpackSymbols()


    async def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        return await get_json(self._http(), f"{self.rest_url}{path}", params)

    async def _markets(self) -> dict[str, schemas.Market]:
        return active_perps(await self._get("/api/v1/markets", {"marketType": "PERP"}), self.symbols)

    async def _marks(self) -> list[schemas.MarkPrice]:
        return schemas.mark_prices.decode(await self._get("/api/v1/markPrices"))

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (see :func:`funding_samples`)."""
        markets = await self._markets()
        return funding_samples(markets, await self._marks(), self.symbols)

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24 h volume and open interest, both USD (see :func:`market_stats`)."""
        markets = await self._markets()
        tickers = schemas.tickers.decode(await self._get("/api/v1/tickers"))
        ois = schemas.open_interest.decode(await self._get("/api/v1/openInterest"))
        return market_stats(markets, tickers, ois, await self._marks(), self.symbols)

    def normalize_symbol(self, dex_symbol: str) -> str:
        return normalize_symbol(dex_symbol)

    def get_dex_symbol_format(self, normalized_symbol: str) -> str:
        return self.symbols.dex_symbol(normalized_symbol)

