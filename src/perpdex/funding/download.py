"""Download settled funding history into the store (``perpdex history fetch``).

:func:`plan_downloads` decides, per (exchange, symbol), what is missing: from the newest stored
settlement + 1 ms (or ``since`` when nothing is stored) to ``until``. :func:`run_downloads` walks
the plan: exchanges concurrently, the symbols of one exchange one after another (one exchange's
requests share its rate budget, ``exchanges/http.py``), each page stored in its own transaction
as it arrives (:class:`~perpdex.funding.settled.SettledFundingStore.add`, idempotent). An
interruption therefore loses at most the page in flight, and a re-run resumes from what is
stored. An exchange error ends that symbol only: it is reported in its :class:`DownloadResult`
and the download goes on with the next symbol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..errors import ExchangeError, MarketNotFound
from ..exchanges.base import ExchangeClient
from ..models import SettledFunding
from .settled import SettledFundingStore

log = logging.getLogger(__name__)

_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class DownloadTask:
    """Fetch ``symbol`` on ``exchange`` with ``start <= funding_time <= until`` (UTC)."""

    exchange: str
    symbol: str
    start: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return max((self.until - self.start).total_seconds(), 0.0)


@dataclass
class DownloadResult:
    """What one task did: ``fetched`` rows received, ``added`` rows new to the store, ``first`` /
    ``last`` settlement times received (UTC), ``pages`` requests answered with rows, ``error`` the
    exchange error that ended it (None: complete)."""

    exchange: str
    symbol: str
    fetched: int = 0
    added: int = 0
    pages: int = 0
    first: datetime | None = None
    last: datetime | None = None
    error: str | None = None


class DownloadProgress(Protocol):
    """What :func:`run_downloads` reports (the CLI draws it as rich progress bars)."""

    def page(self, task: DownloadTask, result: DownloadResult) -> None:
        """A page of ``task`` was stored; ``result`` holds the totals so far."""

    def done(self, task: DownloadTask, result: DownloadResult) -> None:
        """``task`` ended (complete or with ``result.error``)."""


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def default_symbols(listed: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Per exchange, its listed symbols that at least one other exchange lists too (the pairs a
    funding-rate arbitrage can trade); with a single exchange, all of its symbols."""
    sets = {ex: set(syms) for ex, syms in listed.items()}
    if len(sets) <= 1:
        return {ex: sorted(s) for ex, s in sets.items()}
    return {ex: sorted(s for s in syms if any(s in other for o, other in sets.items() if o != ex))
            for ex, syms in sets.items()}


async def plan_downloads(store: SettledFundingStore, symbols: Mapping[str, Sequence[str]], since: datetime,
                         until: datetime) -> list[DownloadTask]:
    """One task per (exchange, symbol) of ``symbols`` that misses rows in [since, until]: from the
    newest stored settlement + 1 ms when one is stored at or after ``since``, else from ``since``.
    Symbols already complete up to ``until`` get no task. Raises ValueError when ``since`` is
    not before ``until``."""
    since, until = _utc(since), _utc(until)
    if since >= until:
        raise ValueError(f"since ({since:%Y-%m-%d %H:%M}) must be before until ({until:%Y-%m-%d %H:%M})")
    tasks = []
    for exchange, syms in symbols.items():
        for sym in syms:
            last = await store.last_time(exchange, sym)
            start = max(since, last + _ONE_MS) if last is not None else since
            if start <= until:
                tasks.append(DownloadTask(exchange, sym, start, until))
    return tasks


async def _download(client: ExchangeClient, store: SettledFundingStore, task: DownloadTask,
                    progress: DownloadProgress | None) -> DownloadResult:
    res = DownloadResult(task.exchange, task.symbol)
    try:
        async for page in client.fetch_funding_history_pages(task.symbol, task.start, task.until):
            rows: list[SettledFunding] = [r for r in page if task.start <= r.funding_time <= task.until]
            if not rows:
                continue
            res.added += await store.add(rows)
            res.fetched += len(rows)
            res.pages += 1
            first, last = min(r.funding_time for r in rows), max(r.funding_time for r in rows)
            res.first = first if res.first is None else min(res.first, first)
            res.last = last if res.last is None else max(res.last, last)
            if progress is not None:
                progress.page(task, res)
    except ExchangeError as exc:
        res.error = str(exc) if not isinstance(exc, MarketNotFound) else f"{task.symbol} is not listed: {exc}"
        log.warning("%s %s: funding history stopped: %s", task.exchange, task.symbol, res.error)
    if progress is not None:
        progress.done(task, res)
    return res


async def run_downloads(clients: Mapping[str, ExchangeClient], store: SettledFundingStore,
                        tasks: Sequence[DownloadTask], progress: DownloadProgress | None = None) -> list[DownloadResult]:
    """Run ``tasks``: concurrently across exchanges, sequentially within one; results in task
    order. Exchange errors end their task only (``DownloadResult.error``); cancellation (Ctrl-C)
    propagates after the page being stored is committed or rolled back whole."""
    by_exchange: dict[str, list[DownloadTask]] = {}
    for t in tasks:
        by_exchange.setdefault(t.exchange, []).append(t)

    async def one_exchange(name: str, todo: list[DownloadTask]) -> list[DownloadResult]:
        return [await _download(clients[name], store, t, progress) for t in todo]

    done = await asyncio.gather(*(one_exchange(n, ts) for n, ts in by_exchange.items()))
    results = {(r.exchange, r.symbol): r for group in done for r in group}
    return [results[(t.exchange, t.symbol)] for t in tasks]
