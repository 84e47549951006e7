"""The FastAPI application of ``perpdex serve``: the funding-rate service over HTTP.

    GET /health                              collection health per exchange, ok | degraded
    GET /funding-rates                       newest sample per (exchange, symbol)
    GET /funding-rates/{symbol}/history      samples and pair statistics over the last N hours
    GET /opportunities                       pairs ranked by net APR, from stored samples

:func:`create_app` wires it: during the app's lifespan the store is opened, and with
``collect=True`` the exchanges' funding adapters (and, with ``sim.enabled``, the emulators) are
started as ``perpdex run`` does and :class:`~perpdex.funding.service.FundingRateService` collects
every ``service.interval_s`` seconds. With ``collect=False`` the API only reads what is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request

from ..config import AppConfig
from ..funding.history import SAMPLE_TEXT_COLUMNS, FundingHistory, PairStats, row_sample
from ..funding.service import FundingRateService
from ..storage import Store
from ..storage.models import FundingSnapshotRow
from . import auth, schemas
from . import live as live_api
from .cache import RoundCache
from .live import LiveRun

log = logging.getLogger(__name__)

API_VERSION = "1.0"
MAX_HOURS = 24 * 366
MAX_AGE_S = MAX_HOURS * 3600.0
MAX_HOLD_HOURS = 24 * 3660  # ten years
MAX_APR = 1000  # fraction per year: 100 000 %
DEFAULT_MAX_POINTS = 2000

router = APIRouter()


def _service(request: Request) -> FundingRateService:
    return request.app.state.service


def _cfg(request: Request) -> AppConfig:
    return request.app.state.cfg


def _known_exchange(request: Request, exchange: str | None) -> str | None:
    """``exchange`` when configured; a 422 in FastAPI's error shape otherwise."""
    known = list(_service(request).exchanges)
    if exchange is not None and exchange not in known:
        raise HTTPException(422, [{"type": "value_error", "loc": ["query", "exchange"],
                                   "msg": f"unknown exchange '{exchange}' (configured: {', '.join(known)})",
                                   "input": exchange}])
    return exchange


def _stats_out(st: PairStats) -> schemas.PairStatistics:
    return schemas.PairStatistics(
        long_exchange=st.long_exchange, short_exchange=st.short_exchange, hours=st.hours, samples=st.samples,
        first_at=st.first_at, last_at=st.last_at, mean_spread_8h=st.mean_spread_8h,
        mean_spread_hourly=st.mean_spread_hourly, mean_spread_apr=st.mean_spread_apr,
        last_spread_8h=st.last_spread_8h, persistence_hours=st.persistence_hours,
    )


def _round_id(request: Request) -> int | None:
    """The collection round answers may be kept for (rounds stored so far; None: not collecting,
    compute each). The cache lives as long as the service (one app lifespan)."""
    svc = _service(request)
    return svc.rounds if svc.running else None


def _cache(request: Request) -> RoundCache:
    return request.app.state.answers


def _dec(x: float | None, digits: int = 10) -> str | None:
    """``x`` to ``digits`` significant digits as a plain decimal string (never an exponent)."""
    if x is None:
        return None
    text = f"{x:.{digits}g}"
    # without an exponent (or inf / nan) the text already is what Decimal would print
    return text if "e" not in text and "n" not in text else str(Decimal(text))


def _point_out(p: Any) -> dict[str, Any]:
    """A bucket average as :class:`schemas.HistoryPoint` JSON."""
    return {"exchange": p.exchange, "collected_at": _iso(p.collected_at), "rate_per_interval": _dec(p.rate),
            "interval_hours": _dec(p.interval_hours, 6), "rate_8h": _dec(p.rate_8h), "mark_price": _dec(p.mark_price),
            "volume_24h_usd": _dec(p.volume_24h_usd, 7), "open_interest_usd": _dec(p.open_interest_usd, 7),
            "samples": p.samples}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _text_sample(row: tuple[str | None, ...]) -> dict[str, Any]:
    """A stored sample read as text (:data:`~perpdex.funding.history.SAMPLE_TEXT_COLUMNS`) as
    :class:`schemas.HistoryPoint` JSON (decimals exactly as stored)."""
    f = dict(zip(SAMPLE_TEXT_COLUMNS, row))
    return {"exchange": f["exchange"], "collected_at": str(f["collected_at"]).replace(" ", "T") + "Z",
            "rate_per_interval": _num(f["rate"]), "interval_hours": _num(f["interval_hours"]),
            "rate_8h": _num(f["rate_8h"]), "mark_price": _num(f["mark_price"]),
            "volume_24h_usd": _num(f["volume_24h_usd"]), "open_interest_usd": _num(f["open_interest_usd"]), "samples": 1}


def _num(text: str | None) -> str | None:
    return None if text is None else str(Decimal(text))


def _sample_fields(row: FundingSnapshotRow) -> dict[str, Any]:
    return {"exchange": row.exchange, "collected_at": row.collected_at, "rate_per_interval": row.rate,
            "interval_hours": row.interval_hours, "rate_8h": row.rate_8h, "mark_price": row.mark_price,
            "volume_24h_usd": row.volume_24h_usd, "open_interest_usd": row.open_interest_usd}


def _rate_out(row: FundingSnapshotRow, now: datetime) -> schemas.FundingRate:
    s = row_sample(row)
    return schemas.FundingRate(
        **_sample_fields(row), symbol=row.symbol, age_s=max((now - row.collected_at).total_seconds(), 0.0),
        rate_hourly=s.hourly_rate, apr=s.apr, next_funding_time=row.next_funding_time,
    )


Exchange = Annotated[str | None, Query(description="Only this exchange (a configured name).")]
Symbol = Annotated[str | None, Query(min_length=1, max_length=32, description="Only this canonical symbol (e.g. BTC).")]


@router.get("/health", response_model=schemas.HealthResponse, summary="Collection health per exchange")
async def health(request: Request) -> Any:
    """Per exchange: the last successful collection and its age, failures; ``status`` is ok when
    every exchange's last round succeeded within ``max_sample_age_s``, else degraded (the HTTP
    status is 200 either way). ``alerts``: the notifier's counters per channel when the app runs
    with one (``app.state.alerts``, a :class:`~perpdex.alerts.notifier.Notifier`)."""
    out = _service(request).health()
    alerts = getattr(request.app.state, "alerts", None)
    return {**out, "alerts": alerts.stats()} if alerts is not None else out


@router.get("/funding-rates", response_model=schemas.FundingRatesResponse, summary="Newest funding rates")
async def funding_rates(
    request: Request,
    exchange: Exchange = None,
    symbol: Symbol = None,
    max_age_s: Annotated[float | None, Query(gt=0, le=MAX_AGE_S, allow_inf_nan=False,
                                             description="Leave out samples older than this, seconds.")] = None,
) -> Any:
    """The newest stored sample per (exchange, symbol): funding rate per interval, interval hours,
    8h-normalized and hourly rate, APR, mark price, 24h volume and open interest (USD)."""
    svc = _service(request)
    exchange = _known_exchange(request, exchange)

    async def compute() -> schemas.FundingRatesResponse:
        now = datetime.now(UTC)
        rows = await svc.history.latest(exchange=exchange, symbol=symbol.upper() if symbol else None,
                                        max_age_s=max_age_s, now=now)
        out = [_rate_out(r, now) for r in rows]
        return schemas.FundingRatesResponse(as_of=now, count=len(out), rates=out)

    return await _cache(request).answer(request, _round_id(request), compute)


@router.get("/funding-rates/{symbol}/history", response_model=schemas.FundingHistoryResponse,
            summary="Funding history and pair statistics of a symbol")
async def funding_history(
    request: Request,
    symbol: Annotated[str, Path(min_length=1, max_length=32, description="Canonical symbol (e.g. BTC).")],
    hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS, allow_inf_nan=False,
                                         description="Window, hours up to now (default: service.history_hours).")] = None,
    exchange: Exchange = None,
    max_points: Annotated[int, Query(ge=2, le=10000, description=(
        "At most this many samples per exchange: a window holding more is answered with the averages of "
        "equal time buckets (resolution_s seconds each)."))] = DEFAULT_MAX_POINTS,
) -> Any:
    """The samples of ``symbol`` in the last ``hours`` hours (oldest first): every stored sample
    when no exchange has more than ``max_points`` in the window, else per exchange the averages of
    time buckets of ``resolution_s`` seconds (at most ``max_points``); and, for each exchange pair,
    the mean spread over every round of the window and how long it has stayed positive (pairs only
    without an ``exchange`` filter)."""
    svc = _service(request)
    window = hours if hours is not None else _cfg(request).service.history_hours
    sym = symbol.upper()
    exchange = _known_exchange(request, exchange)

    async def compute() -> bytes:  # the response model's JSON, written directly
        now = datetime.now(UTC)
        got = await svc.history.window(sym, window, max_points=max_points, exchange=exchange, now=now)
        pairs = await svc.history.symbol_stats(sym, window, now=now) if exchange is None else []

        def build() -> bytes:
            # thousands of samples: written as JSON directly (the response model's exact shape:
            # decimals as strings, times ISO 8601 UTC), off the event loop
            head = schemas.FundingHistoryResponse(
                symbol=sym, hours=window, as_of=now, max_points=max_points, resolution_s=got.resolution_s,
                samples=[], pairs=[_stats_out(p) for p in pairs]).model_dump(mode="json")
            head["samples"] = [_text_sample(r) for r in got.samples] + [_point_out(p) for p in got.points]
            return msgspec.json.encode(head)

        return await asyncio.to_thread(build)

    return await _cache(request).answer(request, _round_id(request), compute)


@router.get("/opportunities", response_model=schemas.OpportunitiesResponse, summary="Ranked arbitrage pairs")
async def opportunities(
    request: Request,
    min_net_apr: Annotated[Decimal | None, Query(ge=-MAX_APR, le=MAX_APR, allow_inf_nan=False, description=(
        "Only pairs with at least this net APR (fraction per year; default: no threshold)."))] = None,
    symbol: Symbol = None,
    exchange: Annotated[str | None, Query(description="Only pairs with a leg on this exchange.")] = None,
    hold_hours: Annotated[Decimal | None, Query(ge=Decimal("0.01"), le=MAX_HOLD_HOURS, allow_inf_nan=False, description=(
        "Holding time over which entry+exit fees are amortized, hours (default: strategy.hold_hours)."))] = None,
    min_persistence_hours: Annotated[float | None, Query(ge=0, le=MAX_HOURS, allow_inf_nan=False, description=(
        "Only pairs whose spread has stayed positive for at least this many hours (default: "
        "strategy.min_persistence_hours, off when unset)."))] = None,
    min_mean_spread_apr: Annotated[Decimal | None, Query(ge=-MAX_APR, le=MAX_APR, allow_inf_nan=False, description=(
        "Only pairs whose mean spread over history_hours is at least this APR fraction (default: "
        "strategy.min_mean_spread_apr, off when unset)."))] = None,
    history_hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS, allow_inf_nan=False, description=(
        "Window of the history statistics and filter, hours (default: strategy.history_hours)."))] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many pairs.")] = 50,
) -> Any:
    """Pairs from the newest stored samples (no older than ``service.max_sample_age_s``): long
    where the 8h funding is lower, short where it is higher, ranked by net APR after round-trip
    taker fees; the 24h volume / open interest filters of the strategy section apply."""
    svc = _service(request)
    st = _cfg(request).strategy
    window = history_hours if history_hours is not None else st.history_hours
    persist = min_persistence_hours if min_persistence_hours is not None else st.min_persistence_hours
    if persist is not None and persist > window:
        raise HTTPException(422, [{"type": "value_error", "loc": ["query", "min_persistence_hours"],
                                   "msg": f"{persist} hours cannot be seen in a history of {window} hours",
                                   "input": persist}])
    hold = hold_hours if hold_hours is not None else st.hold_hours
    exchange = _known_exchange(request, exchange)
    return await _cache(request).answer(request, _round_id(request), lambda: _opportunities(
        svc, hold_hours=hold, min_net_apr=min_net_apr, symbols=[symbol.upper()] if symbol else None,
        exchange=exchange, min_volume_24h_usd=st.min_volume_24h_usd,
        min_open_interest_usd=st.min_open_interest_usd, history_hours=window,
        min_mean_spread_apr=min_mean_spread_apr if min_mean_spread_apr is not None else st.min_mean_spread_apr,
        min_persistence_hours=persist, limit=limit,
    ))


async def _opportunities(svc: FundingRateService, **kw: Any) -> schemas.OpportunitiesResponse:
    found = await svc.opportunities(**kw)
    out = [schemas.Opportunity(
        symbol=o.symbol, long_exchange=o.long_exchange, short_exchange=o.short_exchange,
        long_rate_8h=o.long_rate_8h, short_rate_8h=o.short_rate_8h, spread_8h=o.spread_8h, gross_apr=o.gross_apr,
        fee_cost=o.fee_cost, fee_apr=o.fee_apr, net_apr=o.net_apr, min_volume_24h_usd=o.min_volume_24h_usd,
        min_open_interest_usd=o.min_open_interest_usd,
        history=_stats_out(found.stats[o.key]) if o.key in found.stats else None) for o in found.opportunities]
    return schemas.OpportunitiesResponse(
        as_of=found.as_of, hold_hours=kw["hold_hours"], history_hours=kw["history_hours"],
        max_sample_age_s=svc.cfg.max_sample_age_s,
        count=len(out), opportunities=out, skipped_exchanges=found.skipped,
    )


def create_app(cfg: AppConfig, *, store: Store | None = None, collect: bool = True,
               live: LiveRun | None = None) -> FastAPI:
    """The API for ``cfg``. ``store``: an open store to use (default: one opened on
    ``cfg.storage.url`` for the lifespan); ``collect``: run the collection loop (and the emulators
    when ``sim.enabled``) during the lifespan, else only serve what is stored; ``live``: the
    ``perpdex run`` whose state the dashboard shows (:mod:`.live`). With a token
    (``$PERPDEX_API_TOKEN`` or ``service.api_token``) every route asks for it (:mod:`.auth`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..app import runtime

        async with contextlib.AsyncExitStack() as stack:
            st = store
            if st is None:
                st = Store(cfg.storage.url)
                await st.init()
                stack.push_async_callback(st.close)
            # a round may land up to exchange_timeout_s after its collected_at
            history = FundingHistory(st.sessions, settle_s=max(300.0, 2 * cfg.service.interval_s
                                                               + cfg.service.exchange_timeout_s))
            overrides = {n: cfg.exchanges[n].taker_fee for n in cfg.enabled_exchanges}
            if collect:
                rt = await stack.enter_async_context(runtime(cfg))
                if rt.cluster is not None:
                    log.info("emulator running: %s", ", ".join(f"{n} at {e['rest_url']}"
                                                               for n, e in rt.cluster.endpoints.items()))
                svc = FundingRateService(history, rt.adapters, cfg.service, clients=rt.clients, taker_fees=overrides)
                await svc.start()
                stack.push_async_callback(svc.stop)
            else:
                svc = FundingRateService(history, {}, cfg.service, taker_fees=overrides, names=cfg.enabled_exchanges)
                await svc.load_last_collected()
            app.state.service = svc
            app.state.cfg = cfg
            app.state.answers = RoundCache()
            stack.push_async_callback(app.state.answers.close)
            app.state.store = st
            yield

    app = FastAPI(
        title="perpdex funding-rate service",
        version=API_VERSION,
        description="Funding rates, mark prices, 24h volume and open interest collected from every configured "
                    "exchange, their history, and delta-neutral opportunities ranked by net APR. Rates and APRs "
                    "are decimal fractions serialized as strings; times UTC.",
        lifespan=lifespan,
    )
    app.include_router(router)
    live_api.install(app, live)  # the dashboard: page, static files, /api/live/*
    auth.install(app, auth.resolve_token(cfg))
    return app
