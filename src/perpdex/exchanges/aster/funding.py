"""Aster funding rates, 24 h volume and open interest (native aiohttp + msgspec).

Protocol source: docs/exchanges/aster.md §3.4–3.7 and §8 (asterdex/api-docs "Mark Price",
"Get Funding Rate Config", "24hr Ticker Price Change Statistics"; docs.asterdex.com funding page).

* ``GET /fapi/v3/premiumIndex`` (all symbols): ``lastFundingRate`` = fraction **per the symbol's
  funding interval** (positive: longs pay shorts), ``nextFundingTime`` epoch ms, ``markPrice`` USD.
* ``GET /fapi/v3/fundingInfo`` (all symbols): ``fundingIntervalHours`` per symbol (8, 4, 1...).
  A symbol missing there uses the documented default of 8 h.
* ``GET /fapi/v3/ticker/24hr`` (all symbols): ``quoteVolume`` = 24 h volume in USDT (= USD).
* ``GET /fapi/v3/fundingRate`` (``symbol``, ``startTime``, ``endTime`` ms inclusive, ``limit`` <= 1000,
  ascending): settled rates per interval, paged forward by :func:`funding_history_pages`; the
  interval of every row is the symbol's current ``fundingInfo`` interval (the rows do not carry one).
* ``GET /fapi/v1/openInterest?symbol=`` (per symbol, Binance-compatible, undocumented by Aster):
  open interest in **base units**; converted to USD with the current mark price. There is no
  all-symbols form, so a catalog of hundreds of perps cannot be read in one round within the rate
  budget: each call reads open interest for as many symbols as fit in ``open_interest_round_s``
  seconds (never-read symbols first, highest 24 h volume first, then the stalest), and the others
  keep the figure read in an earlier round. A symbol not read yet reports None (unknown); one whose
  open interest cannot be read keeps its last figure (logged).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp

from ...errors import ExchangeError
from ...models import FundingRateSample, MarketStats, SettledFunding
from ..base import ExchangeSettings, RestFundingAdapter
from ..history import describe, from_ms, request_page, to_ms
from .rest import EXCHANGE, AsterRest
from .schemas import FundingInfo, FundingRateRow, OpenInterest, PremiumIndex, Ticker24h
from .symbols import DEFAULT_QUOTE, AsterSymbols, normalize_symbol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_HOURS = Decimal(8)
OI_CONCURRENCY = 8
#: Seconds of each ``fetch_market_data`` spent reading open interest (settings option
#: ``open_interest_round_s``): about 100 symbols at the default 20 requests/s budget.
OI_ROUND_S = 4.0
HISTORY_PATH = "/fapi/v3/fundingRate"
HISTORY_LIMIT = 1000  # rows per request (protocol doc §3.6)


async def fetch_intervals(rest: AsterRest) -> dict[str, Decimal]:
    """Exchange symbol -> funding interval in hours, from ``GET /fapi/v3/fundingInfo``."""
    rows: list[FundingInfo] = await rest.get("/fapi/v3/fundingInfo", into=list[FundingInfo])
    return {r.symbol: r.fundingIntervalHours for r in rows if r.fundingIntervalHours > 0}


def interval_of(intervals: dict[str, Decimal], dex_symbol: str) -> tuple[Decimal, str]:
    """(interval hours, where it came from): ``fundingInfo``, else the documented 8 h default."""
    hours = intervals.get(dex_symbol)
    return (hours, "fundingInfo") if hours is not None else (DEFAULT_INTERVAL_HOURS, "default")


def funding_sample(coin: str, dex_symbol: str, rate: Decimal, next_funding_ms: int, mark: Decimal | None,
                   index: Decimal | None, intervals: dict[str, Decimal], source: str = "premiumIndex") -> FundingRateSample:
    """One :class:`FundingRateSample` from the fields ``premiumIndex`` rows and ``markPriceUpdate``
    stream events share: ``rate`` fraction per the symbol's interval (``lastFundingRate`` / ``r``),
    ``next_funding_ms`` epoch ms (0: unknown), ``mark`` / ``index`` USD. The interval comes from
    ``intervals`` (``fundingInfo``; 8 h default, see :func:`interval_of`). ``source`` names the
    message in ``metadata``. The one normalization path of Aster's live funding (REST and WS)."""
    hours, interval_source = interval_of(intervals, dex_symbol)
    nft = datetime.fromtimestamp(next_funding_ms / 1000, tz=UTC) if next_funding_ms > 0 else None
    return FundingRateSample.from_interval_rate(
        EXCHANGE, coin, rate, hours, next_funding_time=nft, mark_price=mark,
        metadata={"dex_symbol": dex_symbol, "index_price": index, "interval_source": interval_source, "source": source},
    )


def settled_rows(symbol: str, rows: list[FundingRateRow], hours: Decimal) -> list[SettledFunding]:
    """History rows -> :class:`SettledFunding`: ``fundingRate`` is already a fraction per the
    symbol's interval (as ``lastFundingRate`` is live), ``markPrice`` kept when present."""
    return [SettledFunding(EXCHANGE, symbol, from_ms(r.fundingTime), r.fundingRate, hours, r.markPrice,
                           f"GET {HISTORY_PATH}") for r in rows]


async def funding_history_pages(rest: AsterRest, symbol: str, dex_symbol: str, since: datetime,
                                until: datetime | None) -> AsyncIterator[list[SettledFunding]]:
    """Settled rates of ``dex_symbol`` (reported as canonical ``symbol``) in [since, until], one
    list per request, oldest first: ``startTime`` moves past the newest row of each full page."""
    intervals = await request_page(EXCHANGE, describe("/fapi/v3/fundingInfo"), lambda: fetch_intervals(rest))
    hours, _ = interval_of(intervals, dex_symbol)
    start, end = to_ms(since), to_ms(until or datetime.now(UTC))
    while start <= end:
        params = {"symbol": dex_symbol, "startTime": start, "endTime": end, "limit": HISTORY_LIMIT}
        page: list[FundingRateRow] = await request_page(
            EXCHANGE, describe(HISTORY_PATH, params), functools.partial(rest.get, HISTORY_PATH, params, into=list[FundingRateRow]))
        rows = [r for r in page if r.symbol == dex_symbol and start <= r.fundingTime <= end]
        if rows:
            yield settled_rows(symbol, rows, hours)
        if len(page) < HISTORY_LIMIT or not rows:
            return
        start = max(r.fundingTime for r in rows) + 1


class AsterFundingAdapter(RestFundingAdapter):
    """Funding samples and market stats for every Aster perpetual, keyed by canonical symbol.

    ``settings.rest_url`` overrides the live ``https://fapi.asterdex.com`` (the emulator's URL in
    the sim). No credentials are needed.
    """

    name = EXCHANGE
    rest_class = AsterRest
    rest: AsterRest

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(settings, session=session)
        self.symbols = AsterSymbols()  # learned from answers
        self._oi: dict[str, tuple[Decimal, float]] = {}  # exchange symbol -> (open interest, base units; monotonic s read)

    def normalize_symbol(self, dex_symbol: str) -> str:
        """``"BTCUSDT"`` -> ``"BTC"``; ``"1000PEPEUSDT"`` -> ``"PEPE"``."""
        return normalize_symbol(dex_symbol)

    def dex_symbol(self, normalized_symbol: str) -> str:
        """``"BTC"`` -> ``"BTCUSDT"``; bundled markets seen in earlier answers resolve to their
        real symbol (``"PEPE"`` -> ``"1000PEPEUSDT"``)."""
        return self.symbols.name(normalized_symbol)

    def _canonical(self, dex_symbol: str, seen: dict[str, str]) -> str | None:
        """Canonical name of ``dex_symbol``, or None when another market already owns it (a
        USDT market wins over other quotes of the same coin)."""
        coin = normalize_symbol(dex_symbol)
        owner = seen.get(coin)
        if owner is not None and owner != dex_symbol and not dex_symbol.endswith(DEFAULT_QUOTE):
            return None
        seen[coin] = dex_symbol
        self.symbols.add(dex_symbol)
        return coin

    async def fetch_intervals(self) -> dict[str, Decimal]:
        """Exchange symbol -> funding interval in hours, from ``fundingInfo``."""
        return await fetch_intervals(self.rest)

    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> :class:`FundingRateSample` with ``raw_rate`` per interval,
        ``interval_hours`` from ``fundingInfo`` (8 h fallback), the 8 h-normalized rate,
        ``next_funding_time`` (UTC) and ``mark_price`` (USD). ``metadata`` carries the exchange
        symbol, index price and where the interval came from. Raises the errors of
        :class:`~.rest.AsterRest`."""
        premium, intervals = await asyncio.gather(
            self.rest.get("/fapi/v3/premiumIndex", into=list[PremiumIndex]), self.fetch_intervals()
        )
        out: dict[str, FundingRateSample] = {}
        seen: dict[str, str] = {}
        for row in premium:
            coin = self._canonical(row.symbol, seen)
            if coin is None:
                continue
            out[coin] = funding_sample(coin, row.symbol, row.lastFundingRate, row.nextFundingTime, row.markPrice,
                                       row.indexPrice, intervals)
        return out

    async def _open_interest(self, dex_symbol: str) -> Decimal | None:
        try:
            oi: OpenInterest = await self.rest.get("/fapi/v1/openInterest", {"symbol": dex_symbol}, into=OpenInterest)
        except ExchangeError as exc:
            log.warning("aster %s: open interest unavailable: %s", dex_symbol, exc)
            return None
        return oi.openInterest

    async def refresh_open_interest(self, tickers: list[Ticker24h], round_s: float) -> int:
        """Read open interest (base units) for the ``tickers``' symbols until ``round_s`` seconds
        have passed: never-read symbols first, highest ``quoteVolume`` first, then the stalest.
        Returns how many were read; the figures are kept for later calls."""
        known = self._oi
        order = sorted(tickers, key=lambda t: (t.symbol in known, known.get(t.symbol, (0, 0.0))[1], -t.quoteVolume))
        queue = iter(order)
        deadline = time.monotonic() + round_s
        read = 0

        async def worker() -> None:
            nonlocal read
            for t in queue:  # one iterator shared by the workers: each symbol is read once
                if time.monotonic() >= deadline:
                    return
                oi = await self._open_interest(t.symbol)
                if oi is not None:
                    known[t.symbol] = (oi, time.monotonic())
                    read += 1

        await asyncio.gather(*(worker() for _ in range(OI_CONCURRENCY)))
        return read

    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> :class:`MarketStats`: 24 h ``quoteVolume`` (USD) and open interest
        (base units × current mark price = USD; None while a symbol's has not been read, see the
        module doc)."""
        tickers, premium = await asyncio.gather(
            self.rest.get("/fapi/v3/ticker/24hr", into=list[Ticker24h]),
            self.rest.get("/fapi/v3/premiumIndex", into=list[PremiumIndex]),
        )
        marks = {p.symbol: p.markPrice for p in premium}
        seen: dict[str, str] = {}
        rows = [(coin, t) for t in tickers if (coin := self._canonical(t.symbol, seen)) is not None]
        await self.refresh_open_interest([t for _, t in rows], float(self.settings.options.get("open_interest_round_s", OI_ROUND_S)))
        out: dict[str, MarketStats] = {}
        for coin, t in rows:
            mark = marks.get(t.symbol) or t.lastPrice or Decimal(0)
            oi = self._oi.get(t.symbol)
            out[coin] = MarketStats(self.name, coin, t.quoteVolume, None if oi is None else oi[0] * mark)
        return out
