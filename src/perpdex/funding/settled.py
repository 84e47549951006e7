"""Settled funding history: the repository over the ``funding_history`` table.

One :class:`SettledFunding` per (exchange, symbol, settlement time UTC). Units: ``rate`` fraction
per funding interval of ``interval_hours`` hours (positive: longs pay shorts), ``rate_8h`` the
same scaled to 8 hours (``rate * 8 / interval_hours``), ``mark_price`` USD per base unit or None.
Rows are written by ``perpdex history fetch`` and read by the backtest; a row already stored is
never written twice (the table is unique per exchange, symbol and ``funding_time``), so a
re-run of a download only adds what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from ..models import SettledFunding
from ..storage.models import SettledFundingRow, utcnow

__all__ = ["Coverage", "SettledFunding", "SettledFundingStore"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """What is stored for one (exchange, symbol): ``first``/``last`` settlement times (UTC) and ``rows``."""

    exchange: str
    symbol: str
    first: datetime
    last: datetime
    rows: int


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _row(r: SettledFundingRow) -> SettledFunding:
    return SettledFunding(r.exchange, r.symbol, _utc(r.funding_time), r.rate, r.interval_hours, r.mark_price, r.source)


class SettledFundingStore:
    """Reads and writes settled funding rows through ``sessions`` (``Store.sessions``); SQLite or PostgreSQL."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def add(self, rows: Iterable[SettledFunding], *, fetched_at: datetime | None = None) -> int:
        """Store ``rows`` in one transaction, skipping any (exchange, symbol, funding_time) already
        stored. Returns how many rows were new. Raises ValueError on a row with ``interval_hours <= 0``."""
        fetched = _utc(fetched_at) if fetched_at else utcnow()
        values = []
        for r in rows:
            if r.interval_hours <= 0:
                raise ValueError(f"{r.exchange} {r.symbol} {r.funding_time}: interval_hours must be positive")
            values.append({"exchange": r.exchange, "symbol": r.symbol, "funding_time": _utc(r.funding_time),
                           "rate": r.rate, "interval_hours": r.interval_hours, "rate_8h": r.rate_8h,
                           "mark_price": r.mark_price, "source": r.source, "fetched_at": fetched})
        if not values:
            return 0
        async with self._sessions() as s, s.begin():
            dialect = s.bind.dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            added = 0
            for i in range(0, len(values), 500):  # bound the statement size (SQLite's variable limit)
                stmt = insert(SettledFundingRow).values(values[i:i + 500]).on_conflict_do_nothing(
                    index_elements=["exchange", "symbol", "funding_time"])
                res = await s.execute(stmt)
                added += max(res.rowcount or 0, 0)
        return added

    async def last_time(self, exchange: str, symbol: str) -> datetime | None:
        """The newest stored settlement time of (exchange, symbol), UTC; None when nothing is stored."""
        async with self._sessions() as s:
            ts = await s.scalar(select(func.max(SettledFundingRow.funding_time)).where(
                SettledFundingRow.exchange == exchange, SettledFundingRow.symbol == symbol))
        return None if ts is None else _utc(ts)

    async def coverage(self, exchanges: Sequence[str] | None = None) -> list[Coverage]:
        """Per (exchange, symbol): first and last settlement time and the row count, sorted."""
        t = SettledFundingRow
        q = select(t.exchange, t.symbol, func.min(t.funding_time), func.max(t.funding_time), func.count()).group_by(
            t.exchange, t.symbol).order_by(t.exchange, t.symbol)
        if exchanges:
            q = q.where(t.exchange.in_(list(exchanges)))
        async with self._sessions() as s:
            res = await s.execute(q)
            return [Coverage(e, sym, _utc(a), _utc(b), n) for e, sym, a, b, n in res.all()]

    async def load(self, since: datetime, until: datetime | None = None, *, exchanges: Sequence[str] | None = None,
                   symbols: Sequence[str] | None = None) -> list[SettledFunding]:
        """Rows with ``since <= funding_time < until`` (``until`` None: no upper bound), optionally
        only of ``exchanges``/``symbols``, ordered by time, exchange, symbol."""
        t = SettledFundingRow
        q = select(t).where(t.funding_time >= _utc(since))
        if until is not None:
            q = q.where(t.funding_time < _utc(until))
        if exchanges:
            q = q.where(t.exchange.in_(list(exchanges)))
        if symbols:
            q = q.where(t.symbol.in_(list(symbols)))
        q = q.order_by(t.funding_time, t.exchange, t.symbol)
        async with self._sessions() as s:
            return [_row(r) for r in (await s.scalars(q)).all()]
