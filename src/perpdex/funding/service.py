"""The funding-rate service: collect funding rates, mark prices, 24h volume and open interest from
every exchange every ``interval_s`` seconds, store each round (:class:`FundingHistory`), keep a
health record per exchange, and rank opportunities from what is stored.

Each round runs every exchange concurrently, each bounded by ``exchange_timeout_s``: an exchange
that is slow or fails is logged with its name, counted in its health record, and the round is still
stored for the others. Rounds never overlap; a round longer than the interval starts the next one
at once. Taker fees for ranking come from each exchange's market catalog (the highest of it, or the
config override) and are loaded once; an exchange whose fee is not known yet is left out of the
opportunities (never ranked as fee-free).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from ..config import ServiceConfig
from ..exchanges.base import ExchangeClient, FundingAdapter
from .collector import collect_funding
from .history import FundingHistory, PairKey, PairStats
from .opportunities import Opportunity, catalog_taker_fee, filter_by_history, find_opportunities

log = logging.getLogger(__name__)


@dataclass
class ExchangeHealth:
    """One exchange's collection record. Times UTC; ``errors`` counts failed rounds since start,
    ``consecutive_errors`` the failures since the last success."""

    exchange: str
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    errors: int = 0
    consecutive_errors: int = 0
    samples_last_round: int = 0

    def age_s(self, now: datetime) -> float | None:
        return None if self.last_success_at is None else max((now - self.last_success_at).total_seconds(), 0.0)

    def ok(self, now: datetime, max_age_s: float) -> bool:
        age = self.age_s(now)
        return age is not None and age <= max_age_s and self.consecutive_errors == 0


@dataclass
class RoundResult:
    """What one round did: rows stored, errors by exchange, ``duration_s`` seconds."""

    collected_at: datetime
    stored: int
    errors: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class StoredOpportunities:
    """Opportunities ranked from stored samples, with each pair's history statistics and the
    exchanges left out (``skipped[exchange] = reason``)."""

    opportunities: list[Opportunity]
    stats: dict[PairKey, PairStats]
    skipped: dict[str, str]
    as_of: datetime


class FundingRateService:
    """``adapters``/``clients`` by exchange name (clients only to read the market catalog's taker
    fee; ``taker_fees[exchange]`` from config wins over the catalog, None: use the catalog).
    ``names``: the exchanges health reports on (default: those of ``adapters``; a service that
    only reads the store passes no adapters and the configured names)."""

    def __init__(
        self,
        history: FundingHistory,
        adapters: dict[str, FundingAdapter],
        cfg: ServiceConfig,
        *,
        clients: dict[str, ExchangeClient] | None = None,
        taker_fees: dict[str, Decimal | None] | None = None,
        names: list[str] | None = None,
    ) -> None:
        self.history = history
        self.adapters = adapters
        self.cfg = cfg
        self.clients = clients or {}
        self.fees: dict[str, Decimal] = {n: f for n, f in (taker_fees or {}).items() if f is not None}
        self.exchanges: dict[str, ExchangeHealth] = {n: ExchangeHealth(n) for n in (names if names is not None else adapters)}
        self.rounds = 0
        self.last_round: RoundResult | None = None
        self.store_errors = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def timeout_s(self) -> float:
        return min(self.cfg.exchange_timeout_s, self.cfg.interval_s)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- lifecycle -------------------------------------------------------------------------------
    async def load_last_collected(self) -> None:
        """Seed each exchange's last success from the store (health survives a restart)."""
        for name, at in (await self.history.last_collected()).items():
            if name in self.exchanges:
                h = self.exchanges[name]
                h.last_success_at = max(at, h.last_success_at) if h.last_success_at else at

    async def start(self) -> None:
        """Seed health from the store, then run rounds in the background until :meth:`stop`."""
        await self.load_last_collected()
        self._stop.clear()
        self._task = asyncio.create_task(self.run(self._stop), name="funding-rate-service")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.timeout_s + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def run(self, stop: asyncio.Event) -> None:
        """A round every ``interval_s`` seconds until ``stop`` is set (a round in progress ends
        first); an unexpected error in a round is logged and the loop goes on."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.run_round()
            except Exception:  # noqa: BLE001 - the service outlives any one round
                log.exception("funding round failed")
            wait = max(self.cfg.interval_s - (time.monotonic() - started), 0.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    # -- one round -------------------------------------------------------------------------------
    async def run_round(self) -> RoundResult:
        """Collect from every exchange concurrently, store the round in one transaction, update
        health, prune old samples when ``retention_hours`` is set."""
        started = time.monotonic()
        snap, _ = await asyncio.gather(collect_funding(self.adapters, self.timeout_s), self._load_fees())
        at = datetime.fromtimestamp(snap.ts, UTC)
        errors = dict(snap.errors)
        stored = 0
        try:
            stored = await self.history.store_round(snap, at)
        except SQLAlchemyError as exc:
            self.store_errors += 1
            log.error("funding round: storing %d exchanges' samples failed: %s", len(snap.rates), exc)
            for name in snap.rates:
                errors[name] = f"storage: {type(exc).__name__}"
        for name, h in self.exchanges.items():
            if name not in self.adapters:
                continue
            if name in errors:
                h.errors += 1
                h.consecutive_errors += 1
                h.last_error, h.last_error_at = errors[name], at
                h.samples_last_round = 0
            else:
                h.consecutive_errors = 0
                h.last_success_at = at
                h.samples_last_round = len(snap.rates.get(name, {}))
        self.rounds += 1
        result = RoundResult(at, stored, errors, time.monotonic() - started)
        self.last_round = result
        if self.cfg.retention_hours is not None:
            try:
                pruned = await self.history.prune(self.cfg.retention_hours)
                if pruned:
                    log.info("funding history: pruned %d samples older than %gh", pruned, self.cfg.retention_hours)
            except SQLAlchemyError as exc:
                log.error("funding history: pruning failed: %s", exc)
        ok = len(self.adapters) - len(errors)
        log.info("funding round %d: %d samples from %d/%d exchanges in %.2fs%s", self.rounds, stored, ok,
                 len(self.adapters), result.duration_s,
                 "" if not errors else "; failed: " + ", ".join(f"{n} ({e})" for n, e in sorted(errors.items())))
        return result

    async def _load_fees(self) -> None:
        """Read the market catalog of each exchange whose taker fee is not known yet (bounded like
        a collection; a failure is retried next round)."""
        async def one(name: str, client: ExchangeClient) -> None:
            try:
                contracts = await asyncio.wait_for(client.load_contracts(), self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - retried next round
                log.warning("%s: market catalog (taker fee) not loaded: %s: %s", name, type(exc).__name__, exc)
                return
            if contracts:
                self.fees[name] = catalog_taker_fee(contracts.values())

        await asyncio.gather(*(one(n, c) for n, c in self.clients.items() if n not in self.fees))

    # -- reading ---------------------------------------------------------------------------------
    def health(self, now: datetime | None = None) -> dict[str, object]:
        """``status`` "ok" when every exchange had a successful round within
        ``max_sample_age_s`` and its last round succeeded, else "degraded"; per exchange the
        record and ``last_success_age_s`` (seconds)."""
        now = now or datetime.now(UTC)
        rows = []
        for name, h in self.exchanges.items():
            rows.append({
                "exchange": name, "ok": h.ok(now, self.cfg.max_sample_age_s),
                "last_success_at": h.last_success_at, "last_success_age_s": h.age_s(now),
                "errors": h.errors, "consecutive_errors": h.consecutive_errors,
                "last_error": h.last_error, "last_error_at": h.last_error_at,
                "samples_last_round": h.samples_last_round, "taker_fee": self.fees.get(name),
            })
        return {
            "status": "ok" if rows and all(r["ok"] for r in rows) else "degraded",
            "collecting": self.running, "rounds": self.rounds,
            "last_round_at": self.last_round.collected_at if self.last_round else None,
            "interval_s": self.cfg.interval_s, "max_sample_age_s": self.cfg.max_sample_age_s,
            "store_errors": self.store_errors, "exchanges": rows,
            "exchanges_down": sum(1 for r in rows if not r["ok"]),
        }

    async def opportunities(
        self,
        *,
        hold_hours: Decimal,
        min_net_apr: Decimal | None = None,
        symbols: list[str] | None = None,
        exchange: str | None = None,
        min_volume_24h_usd: Decimal = Decimal(0),
        min_open_interest_usd: Decimal = Decimal(0),
        history_hours: float = 24.0,
        min_mean_spread_apr: Decimal | None = None,
        min_persistence_hours: float | None = None,
        limit: int | None = None,
        now: datetime | None = None,
    ) -> StoredOpportunities:
        """Rank pairs from the newest stored sample per (exchange, symbol) no older than
        ``max_sample_age_s`` (the net-APR logic of :func:`find_opportunities`), keep those with
        ``exchange`` as a leg, apply the history filter over the last ``history_hours`` hours
        (:func:`filter_by_history`), best net APR first, at most ``limit``."""
        now = now or datetime.now(UTC)
        snap = await self.history.latest_snapshot(max_age_s=self.cfg.max_sample_age_s, now=now)
        skipped = {}
        for name in list(snap.rates):
            if name not in self.fees:
                skipped[name] = "taker fee unknown (market catalog not loaded yet)"
                del snap.rates[name]
        for name in self.exchanges:
            if name not in snap.rates and name not in skipped:
                skipped[name] = f"no sample within the last {self.cfg.max_sample_age_s:g}s"
        opps = find_opportunities(
            snap, self.fees, min_net_apr=Decimal(-10**9) if min_net_apr is None else min_net_apr,
            hold_hours=hold_hours, min_volume_24h_usd=min_volume_24h_usd,
            min_open_interest_usd=min_open_interest_usd, symbols=symbols,
        )
        if exchange is not None:
            opps = [o for o in opps if exchange in (o.long_exchange, o.short_exchange)]
        stats = await self.history.stats([o.key for o in opps], history_hours, now=now)
        opps = filter_by_history(opps, stats, min_mean_spread_apr=min_mean_spread_apr,
                                 min_persistence_hours=min_persistence_hours)
        if limit is not None:
            opps = opps[:limit]
        return StoredOpportunities(opps, {o.key: stats[o.key] for o in opps}, skipped, now)
