"""Bulk loader of the settled funding history (``funding_history``) into numpy arrays.

:meth:`SettledFundingStore.load <perpdex.funding.settled.SettledFundingStore.load>` builds one
object per row, which is right for thousands of rows and far too slow for a year of four
exchanges (8.8 M rows). This loader asks the database for one row per (exchange, symbol) whose
columns are the comma-joined settlement times and rates (``group_concat`` on
SQLite, ``string_agg`` on PostgreSQL), so that the per-row work happens in the database's C code
and in numpy's parser, not in Python. An interval that is constant over a market is sent once (a
market whose interval changed gets its list in a second query). Mark prices are only needed for
the few markets a backtest holds, so they are read per position (:func:`load_marks`).

Units as stored: ``rate`` fraction per funding interval (positive: longs pay shorts),
``interval_hours`` hours, times epoch seconds UTC. Rates are carried as float64: a stored rate of
up to 15 significant digits comes back exactly through ``Decimal(repr(x))``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import String, and_, cast, func, literal_column, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine

from ..storage import Store
from ..storage.models import SettledFundingRow


@dataclass
class History:
    """The loaded history: market ``i`` is ``keys[i] = (exchange, symbol)`` with its settlements in
    ``times[i]`` (int64 epoch s, ascending), ``rates[i]`` (float64 per interval) and
    ``intervals[i]`` (float64 hours). Mark prices are read per position (:func:`load_marks`)."""

    keys: list[tuple[str, str]] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    rates: list[np.ndarray] = field(default_factory=list)
    intervals: list[np.ndarray] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Settlements loaded, all markets."""
        return sum(len(t) for t in self.times)

    def add(self, exchange: str, symbol: str, times: np.ndarray, rates: np.ndarray, intervals: np.ndarray) -> None:
        """Append one market (arrays of equal length, ascending ``times``)."""
        self.keys.append((exchange, symbol))
        self.times.append(np.asarray(times, dtype=np.int64))
        self.rates.append(np.asarray(rates, dtype=np.float64))
        self.intervals.append(np.asarray(intervals, dtype=np.float64))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _engine(store: Store | AsyncEngine) -> AsyncEngine:
    return store.engine if isinstance(store, Store) else store


def _parse(text: str | None, n: int, dtype: Any = np.float64) -> np.ndarray:
    """``n`` comma-separated numbers as an array of ``dtype``; ValueError when the count differs."""
    out = np.array(text.split(",") if text else [], dtype=dtype)
    if len(out) != n:
        raise ValueError(f"funding_history: expected {n} values, parsed {len(out)}")
    return out


def _times(text: str | None, n: int) -> np.ndarray:
    """``n`` comma-separated stored times (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) as epoch seconds
    (int64), parsed by numpy: converting them in SQL costs more than the rest of the query."""
    return (_parse(text, n, "datetime64[us]").astype(np.int64) // 1_000_000).astype(np.int64)


def _dialect(engine: AsyncEngine) -> tuple[Any, Any]:
    """(a comma-joining aggregate, the ``funding_time`` column the window filters on) for the
    dialect. On SQLite the window is written ``+funding_time`` so that the planner walks the
    (exchange, symbol, funding_time) unique index, already in group order, instead of the time
    index plus a sort of every row."""
    t = SettledFundingRow
    if engine.dialect.name == "postgresql":
        return (lambda col: func.string_agg(cast(col, String), literal_column("','"))), t.funding_time
    return (lambda col: func.group_concat(col, ",")), type_coerce(literal_column("+funding_history.funding_time"),
                                                                   t.funding_time.type)


async def load_history(store: Store | AsyncEngine, since: datetime, until: datetime | None = None, *,
                       exchanges: Sequence[str] | None = None, symbols: Sequence[str] | None = None) -> History:
    """Every settlement with ``since <= funding_time < until`` (``until`` None: no bound), of
    ``exchanges``/``symbols`` only when given, as a :class:`History` (markets in exchange, symbol
    order). One query per exchange, run concurrently on their own connections (SQLite works
    outside the GIL, so one exchange's rows are parsed while the next is read). Works on SQLite
    and PostgreSQL; storage errors propagate as SQLAlchemy exceptions."""
    engine = _engine(store)
    t = SettledFundingRow
    if not exchanges:
        async with engine.connect() as conn:
            exchanges = list((await conn.scalars(select(t.exchange).distinct())).all())
    conds = []
    agg, when = _dialect(engine)
    conds.append(when >= _utc(since))
    if until is not None:
        conds.append(when < _utc(until))
    if symbols:
        conds.append(t.symbol.in_([s.upper() for s in symbols]))
    parts = await asyncio.gather(*(_load_exchange(engine, ex, conds) for ex in sorted(set(exchanges))))
    out = History()
    for part in parts:
        for market in part:
            out.add(*market)
    return out


async def _load_exchange(engine: AsyncEngine, exchange: str, conds: list[Any]) -> list[tuple]:
    """The markets of one exchange: (exchange, symbol, times, rates, intervals) each, by symbol."""
    t = SettledFundingRow
    agg, _ = _dialect(engine)
    where = and_(t.exchange == exchange, *conds)
    # one row per market; an interval constant over the market comes back as min == max
    q = (select(t.symbol, func.count(), agg(t.funding_time), agg(t.rate), func.min(t.interval_hours),
                func.max(t.interval_hours)).where(where).group_by(t.exchange, t.symbol).order_by(t.exchange, t.symbol))
    async with engine.connect() as conn:
        summary = (await conn.execute(q)).all()
        varying = sorted(r[0] for r in summary if r[4] != r[5])
        interval_lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if varying:  # the exchange changed a market's interval: that market's intervals, by time
            vq = (select(t.symbol, func.count(), agg(t.funding_time), agg(t.interval_hours))
                  .where(where, t.symbol.in_(varying)).group_by(t.exchange, t.symbol))
            for sym, n, times_text, iv_text in (await conn.execute(vq)).all():
                vt, iv = _times(times_text, n), _parse(iv_text, n)
                order = np.argsort(vt, kind="stable")
                interval_lists[sym] = (vt[order], iv[order])
    out = []
    for sym, n, times_text, rates_text, lo, _hi in summary:
        times = _times(times_text, n)
        order = np.argsort(times, kind="stable")  # the aggregate's order is not guaranteed
        times, rates = times[order], _parse(rates_text, n)[order]
        if sym in interval_lists:
            vt, intervals = interval_lists[sym]
            if not np.array_equal(vt, times):
                raise ValueError(f"funding_history {exchange} {sym}: rows changed while loading; load again")
        else:
            intervals = np.full(n, float(lo))
        out.append((exchange, sym, times, rates, intervals))
        await asyncio.sleep(0)  # let the other exchanges' reads hand over their rows
    return out


async def load_marks(store: Store | AsyncEngine, exchange: str, symbol: str, since: datetime,
                     until: datetime) -> tuple[np.ndarray, np.ndarray]:
    """The stored mark prices of one market with ``since <= funding_time <= until``: (epoch s
    int64, USD float64) arrays, ascending; rows without a mark are left out."""
    t = SettledFundingRow
    q = (select(t.funding_time, t.mark_price)
         .where(t.exchange == exchange, t.symbol == symbol, t.funding_time >= _utc(since),
                t.funding_time <= _utc(until), t.mark_price.is_not(None)).order_by(t.funding_time))
    async with _engine(store).connect() as conn:
        rows = (await conn.execute(q)).all()
    return (np.array([int(_utc(ts).timestamp()) for ts, _ in rows], dtype=np.int64),
            np.array([float(m) for _, m in rows], dtype=np.float64))  # type: ignore[arg-type]  # the query leaves out rows without a mark
