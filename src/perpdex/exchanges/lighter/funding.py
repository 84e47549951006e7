"""Lighter funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Units (shared/protocols/lighter.md §3.4, §4.4, §8; https://docs.lighter.xyz/trading/funding):

* Lighter pays funding **every hour**.
* ``GET /api/v1/funding-rates`` quotes ``rate`` as a **fraction per 8 hours** and mixes in other
  venues' rows (kept only when ``exchange == "lighter"``): the per-interval (1 h) fraction is
  ``rate / 8``.
* ``market_stats`` (WebSocket) quotes ``current_funding_rate`` in **percent per hour**: the
  fraction is ``value / 100`` (:func:`hourly_from_percent`).
* ``orderBookDetails``: ``daily_quote_token_volume`` is USDC (= USD) per 24 h; ``open_interest``
  is in **base units** there, so the USD figure is ``open_interest × mark_price``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp

from ..http import budget_for
from ...errors import ExchangeError, NetworkError, RateLimited
from ...models import FundingRateSample, MarketStats
from ..base import ExchangeSettings, RestFundingAdapter
from . import schemas
from .symbols import LighterSymbols, normalize_symbol

log = logging.getLogger(__name__)

EXCHANGE = "lighter"
DEFAULT_REST_URL = "https://mainnet.zklighter.elliot.ai"
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


def next_hour(now: datetime | None = None) -> datetime:
    """The next top of the hour (UTC), when Lighter settles funding."""
    now = now or datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# Standard accounts: 60 weighted requests/min per IP (protocol doc §5.10); Premium accounts may raise it in config
BUDGET = budget_for(EXCHANGE, rate=5, burst=20)


async def get_json(session: aiohttp.ClientSession, url: str, params: dict[str, Any] | None = None) -> bytes:
    """:func:`_get_json_once` within the exchange's rate-limit budget (see ``exchanges/http.py``)."""
    async with BUDGET.request():
        return await _get_json_once(session, url, params)


async def _get_json_once(session: aiohttp.ClientSession, url: str, params: dict[str, Any] | None = None) -> bytes:
    """GET ``url`` and return the raw body; Lighter errors become :mod:`perpdex.errors`
    (HTTP 429 / code 23000 -> :class:`RateLimited`, other non-200 -> :class:`ExchangeError`,
    transport failures -> :class:`NetworkError`)."""
    try:
        async with session.get(url, params=params) as resp:
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, OSError) as exc:
        raise NetworkError(f"GET {url}: {exc}", exchange=EXCHANGE) from None
    if status == 200:
        return body
    try:
        err = schemas.error_body.decode(body)
        code, message = err.code, err.message
    except Exception:  # noqa: BLE001 - a non-JSON error page
        code, message = status, body[:200].decode(errors="replace")
    if status == 429 or code == 23000:
        raise RateLimited(f"GET {url}: {message}", exchange=EXCHANGE, code=code)
    raise ExchangeError(f"GET {url}: HTTP {status} code {code}: {message}", exchange=EXCHANGE, code=code)


def active_perps(details_body: bytes, symbols: LighterSymbols) -> list[schemas.OrderBookDetail]:
    """Active perps of an ``orderBookDetails`` body (spot and inactive markets dropped),
    registered in ``symbols``."""
    out = []
    for d in schemas.order_book_details.decode(details_body).order_book_details:
        if d.market_type != "perp" or d.status != "active":
            continue
        symbols.add(d.symbol, d.market_id)
        out.append(d)
    return out


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
        symbol = symbols.symbol(row.market_id)
        out[symbol] = FundingRateSample.from_interval_rate(
            EXCHANGE, symbol, hourly_from_8h(row.rate), INTERVAL_HOURS,
            next_funding_time=next_funding, mark_price=mark_of(d),
            metadata={"market_id": row.market_id, "rate_8h": row.rate, "source": "funding-rates",
                      "multiplier": symbols.multiplier(symbol)},
        )
    return out


def market_stats(details: list[schemas.OrderBookDetail], symbols: LighterSymbols) -> dict[str, MarketStats]:
    """24 h volume = ``daily_quote_token_volume`` (USD); open interest USD = ``open_interest``
    (base units in orderBookDetails) × mark price."""
    return {
        symbols.symbol(d.market_id): MarketStats(EXCHANGE, symbols.symbol(d.market_id), d.daily_quote_token_volume,
                                                 d.open_interest * mark_of(d))
        for d in details
    }


class LighterFundingAdapter(RestFundingAdapter):
    """Funding samples (hourly interval) and market statistics from Lighter's public REST API.

    Takes the exchange's :class:`ExchangeSettings` (or just a REST base URL); the URL defaults
    to mainnet, the sim points it at the emulator."""

    name = EXCHANGE
    default_rest_url = DEFAULT_REST_URL

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = LighterSymbols()


    async def _details(self) -> list[schemas.OrderBookDetail]:
        body = await get_json(self._http(), f"{self.rest_url}/api/v1/orderBookDetails")
        return active_perps(body, self.symbols)

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (see :func:`funding_samples`)."""
        details = await self._details()
        body = await get_json(self._http(), f"{self.rest_url}/api/v1/funding-rates")
        return funding_samples(schemas.funding_rates.decode(body), details, self.symbols, next_hour())

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24 h volume and open interest, both USD (see :func:`market_stats`)."""
        return market_stats(await self._details(), self.symbols)

    def normalize_symbol(self, dex_symbol: str) -> str:
        return normalize_symbol(dex_symbol)

    def get_dex_symbol_format(self, normalized_symbol: str) -> str:
        return self.symbols.dex_symbol(normalized_symbol)

