"""Funding-rate history: the repository over the ``funding_snapshots`` table and per-pair statistics.

Every collection round is written in one transaction with one ``collected_at`` for all its rows, so
the rows of two exchanges for a symbol pair up by that timestamp. Units as in
:class:`~perpdex.storage.models.FundingSnapshotRow`: ``rate`` fraction per funding interval of
``interval_hours`` hours (positive: longs pay shorts), ``rate_8h`` the same normalized to 8 hours,
``mark_price`` quote units (USD), ``volume_24h_usd``/``open_interest_usd`` USD, times UTC.

Pair statistics (:class:`PairStats`), for a symbol with a chosen long and short exchange, over the
rounds of the window in which both exchanges have a sample:

* ``spread_8h = rate_8h(short) - rate_8h(long)`` per round (what the pair earns per 8 hours);
* ``mean_spread_8h`` its mean, ``mean_spread_hourly = mean_spread_8h / 8``, ``mean_spread_apr =
  mean_spread_8h / 8 * 8760`` (fraction per year);
* ``persistence_hours``: how long, up to the latest paired round, the spread's APR has stayed above
  ``threshold_apr`` (0: has kept its sign) in every round: the latest round minus the earliest round
  of that unbroken run, in hours (0 when the latest round is not above the threshold, or when the
  run is one round long).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, Numeric, String, cast, delete, func, select, type_coerce
from sqlalchemy.ext.asyncio import async_sessionmaker

from ..models import FundingRateSample, MarketStats
from ..storage.models import FundingSnapshotRow
from .collector import FundingSnapshot
from .opportunities import spread_apr
from .series import (
    SCALE,
    BucketPoint,
    Columns,
    RawRow,
    SeriesCache,
    bucket_width_s,
    downsample,
    exchange_means,
    pair_aggregate,
    to_us,
)

_ZERO = Decimal(0)
_EIGHT = Decimal(8)

PairKey = tuple[str, str, str]  # (symbol, long exchange, short exchange)
SAMPLE_TEXT_COLUMNS = ("exchange", "collected_at", "rate", "interval_hours", "rate_8h", "mark_price",
                       "volume_24h_usd", "open_interest_usd")


def _utc(ts: datetime | None) -> datetime:
    return datetime.now(UTC) if ts is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class PairStats:
    """Statistics of one (symbol, long exchange, short exchange) pair over a window of ``hours``
    hours (see the module docstring). Rates are fractions; ``mean_spread_apr`` a fraction per year;
    ``samples`` the paired rounds; the ``mean_*``/``last_spread_8h`` fields are None without any."""

    symbol: str
    long_exchange: str
    short_exchange: str
    hours: float
    samples: int
    first_at: datetime | None
    last_at: datetime | None
    mean_spread_8h: Decimal | None
    mean_spread_hourly: Decimal | None
    mean_spread_apr: Decimal | None
    last_spread_8h: Decimal | None
    persistence_hours: float
    threshold_apr: Decimal

    @property
    def key(self) -> PairKey:
        return (self.symbol, self.long_exchange, self.short_exchange)


def pair_stats(
    symbol: str,
    long_exchange: str,
    short_exchange: str,
    rates_8h: dict[datetime, dict[str, Decimal]],
    *,
    hours: float,
    threshold_apr: Decimal = _ZERO,
) -> PairStats:
    """Stats from ``rates_8h[collected_at][exchange]`` (8h-normalized rates of one symbol); only
    rounds holding both exchanges count."""
    points = sorted(
        (t, per[short_exchange] - per[long_exchange])
        for t, per in rates_8h.items()
        if long_exchange in per and short_exchange in per
    )
    if not points:
        return PairStats(symbol, long_exchange, short_exchange, hours, 0, None, None, None, None, None, None,
                         0.0, threshold_apr)
    mean = sum((s for _, s in points), _ZERO) / len(points)
    run_start = None
    for t, spread in reversed(points):
        if spread_apr(_ZERO, spread) <= threshold_apr:
            break
        run_start = t
    last_at = points[-1][0]
    persistence = 0.0 if run_start is None else (last_at - run_start).total_seconds() / 3600
    return PairStats(
        symbol, long_exchange, short_exchange, hours, len(points), points[0][0], last_at,
        mean, mean / _EIGHT, spread_apr(_ZERO, mean), points[-1][1], persistence, threshold_apr,
    )


def row_sample(row: FundingSnapshotRow) -> FundingRateSample:
    """The stored row as the collector's sample (per-interval rate, interval, 8h rate, mark)."""
    return FundingRateSample(row.exchange, row.symbol, row.rate, row.interval_hours, row.rate_8h,
                             next_funding_time=row.next_funding_time, mark_price=row.mark_price)


def snapshot_from_rows(rows: Iterable[FundingSnapshotRow]) -> FundingSnapshot:
    """A :class:`FundingSnapshot` (what the opportunity finder reads) from stored rows, one per
    (exchange, symbol); ``ts`` is the newest ``collected_at``. Market statistics are kept only
    where both volume and open interest were stored."""
    snap = FundingSnapshot(ts=0.0)
    for row in rows:
        snap.rates.setdefault(row.exchange, {})[row.symbol] = row_sample(row)
        if row.volume_24h_usd is not None and row.open_interest_usd is not None:
            snap.stats.setdefault(row.exchange, {})[row.symbol] = MarketStats(
                row.exchange, row.symbol, row.volume_24h_usd, row.open_interest_usd)
        snap.ts = max(snap.ts, row.collected_at.timestamp())
    return snap


@dataclass(frozen=True)
class HistoryWindow:
    """What :meth:`FundingHistory.window` answers: ``samples`` stored rows as text (every sample
    of the window, when each exchange has at most ``max_points``: :data:`SAMPLE_TEXT_COLUMNS`,
    the time UTC without zone, decimals exact) or ``points`` (bucketed averages over
    ``resolution_s`` seconds, otherwise); oldest first."""

    samples: list[tuple[str | None, ...]]
    points: list[BucketPoint]
    resolution_s: int | None


class FundingHistory:
    """Repository over ``funding_snapshots``; ``sessions`` is :attr:`perpdex.storage.Store.sessions`.
    Storage errors propagate as SQLAlchemy exceptions.

    Statistics and downsampled windows read per-symbol columns held in memory
    (:class:`~perpdex.funding.series.SeriesCache`): ``settle_s`` seconds is how late after its
    ``collected_at`` a round may be stored (rounds within it are re-read; a round stored through
    :meth:`store_round` with an older time, and :meth:`prune`, drop what is held); ``max_cells``
    bounds what is held (rounds x exchanges, about 30 bytes each)."""

    def __init__(self, sessions: async_sessionmaker, *, settle_s: float = 300.0, max_cells: int = 2_000_000) -> None:
        self.sessions = sessions
        self.settle_s = settle_s
        self.series = SeriesCache(self._raw_rows, settle_s=settle_s, max_cells=max_cells)

    async def _raw_rows(self, symbol: str, start: datetime, end: datetime | None, limit: int | None) -> list[RawRow]:
        R = FundingSnapshotRow
        async with self.sessions() as s:
            conn = await s.connection()
            q = select(*_numeric_columns(conn.dialect.name)).where(R.symbol == symbol, R.collected_at >= start)
            if end is not None:
                q = q.where(R.collected_at < end)
            q = q.order_by(R.collected_at)
            if limit is not None:
                q = q.limit(limit)
            return (await conn.execute(q)).all()

    async def _sample_texts(self, symbol: str, hours: float, exchange: str | None,
                            now: datetime | None) -> list[tuple[str | None, ...]]:
        R = FundingSnapshotRow
        end = _utc(now)
        q = select(*(type_coerce(getattr(R, c), String) if c != "collected_at" else cast(R.collected_at, String)
                     for c in SAMPLE_TEXT_COLUMNS)).where(
            R.symbol == symbol, R.collected_at >= end - timedelta(hours=hours), R.collected_at <= end)
        if exchange is not None:
            q = q.where(R.exchange == exchange)
        async with self.sessions() as s:
            conn = await s.connection()
            return (await conn.execute(q.order_by(R.collected_at, R.exchange, R.id))).all()

    async def columns(self, symbol: str, hours: float, *, now: datetime | None = None) -> Columns:
        """The held columns of ``symbol`` over the last ``hours`` hours up to ``now``."""
        end = _utc(now)
        start = end - timedelta(hours=hours)
        cols = await self.series.columns(symbol, start)
        return cols.window(to_us(start), to_us(end))

    async def store_round(self, snap: FundingSnapshot, collected_at: datetime | None = None) -> int:
        """Write every sample of ``snap`` (with its exchange's volume and open interest where
        known) in one transaction, all with ``collected_at`` (default: ``snap.ts``). Returns the
        number of rows written."""
        at = _utc(collected_at) if collected_at is not None else datetime.fromtimestamp(snap.ts, UTC)
        rows = []
        for exchange, per in snap.rates.items():
            stats = snap.stats.get(exchange, {})
            for symbol, s in per.items():
                st = stats.get(symbol)
                rows.append(FundingSnapshotRow(
                    exchange=exchange, symbol=symbol, collected_at=at, rate=s.raw_rate,
                    interval_hours=s.interval_hours, rate_8h=s.normalized_rate, mark_price=s.mark_price,
                    volume_24h_usd=st.volume_24h_usd if st else None,
                    open_interest_usd=st.open_interest_usd if st else None,
                    next_funding_time=s.next_funding_time,
                ))
        if rows:
            async with self.sessions() as s, s.begin():
                s.add_all(rows)
            if at < datetime.now(UTC) - timedelta(seconds=self.settle_s):
                self.series.clear()  # a round older than the held columns re-read
        return len(rows)

    async def latest(
        self,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
        max_age_s: float | None = None,
        now: datetime | None = None,
    ) -> list[FundingSnapshotRow]:
        """The newest row per (exchange, symbol), sorted by exchange then symbol; with
        ``max_age_s``, pairs whose newest row is older than that many seconds are left out."""
        R = FundingSnapshotRow
        async with self.sessions() as s:
            # distinct (exchange, symbol) by hopping along the (exchange, symbol, collected_at)
            # index, one short query per value instead of a scan of every stored row
            async def after(col: Any, prev: str | None, *where: Any) -> list[str]:
                out: list[str] = []
                while True:
                    q = select(col).where(*where).order_by(col).limit(1)
                    if prev is not None:
                        q = q.where(col > prev)
                    prev = await s.scalar(q)
                    if prev is None:
                        return out
                    out.append(prev)

            exchanges = [exchange] if exchange is not None else await after(R.exchange, None)
            pairs = [(ex, sym) for ex in exchanges
                     for sym in ([symbol] if symbol is not None else await after(R.symbol, None, R.exchange == ex))]
            rows: list[FundingSnapshotRow] = []
            for k in range(0, len(pairs), 200):
                newest = [select(R.id).where(R.exchange == ex, R.symbol == sym)
                          .order_by(R.collected_at.desc(), R.id.desc()).limit(1).scalar_subquery()
                          for ex, sym in pairs[k:k + 200]]
                rows += (await s.scalars(select(R).where(R.id.in_(newest)))).all()
        if max_age_s is not None:
            cutoff = _utc(now) - timedelta(seconds=max_age_s)
            rows = [r for r in rows if r.collected_at >= cutoff]
        return sorted(rows, key=lambda r: (r.exchange, r.symbol))

    async def latest_snapshot(self, *, max_age_s: float | None = None, now: datetime | None = None) -> FundingSnapshot:
        """:meth:`latest` as a :class:`FundingSnapshot` for the opportunity finder."""
        return snapshot_from_rows(await self.latest(max_age_s=max_age_s, now=now))

    async def history(
        self,
        symbol: str,
        hours: float,
        *,
        exchange: str | None = None,
        now: datetime | None = None,
    ) -> list[FundingSnapshotRow]:
        """Rows of ``symbol`` (on ``exchange`` only, or every exchange) collected within the last
        ``hours`` hours up to ``now``, oldest first."""
        R = FundingSnapshotRow
        end = _utc(now)
        q = select(R).where(R.collected_at >= end - timedelta(hours=hours), R.collected_at <= end, R.symbol == symbol)
        if exchange is not None:
            q = q.where(R.exchange == exchange)
        async with self.sessions() as s:
            return list((await s.scalars(q.order_by(R.collected_at, R.exchange, R.id))).all())

    async def stats(
        self,
        pairs: Iterable[PairKey],
        hours: float,
        *,
        threshold_apr: Decimal = _ZERO,
        now: datetime | None = None,
    ) -> dict[PairKey, PairStats]:
        """:class:`PairStats` for each (symbol, long exchange, short exchange) over the last
        ``hours`` hours (from the held columns of each symbol)."""
        pairs = list(pairs)
        cols = {sym: await self.columns(sym, hours, now=now) for sym in sorted({p[0] for p in pairs})}
        return {p: _stats_from(p, cols[p[0]], hours, threshold_apr) for p in pairs}

    async def symbol_stats(
        self,
        symbol: str,
        hours: float,
        *,
        threshold_apr: Decimal = _ZERO,
        now: datetime | None = None,
    ) -> list[PairStats]:
        """:class:`PairStats` of every exchange pair of ``symbol`` seen in the window, each long
        the exchange whose mean 8h rate over the window is lower (ties: name order), best mean
        spread first."""
        cols = await self.columns(symbol, hours, now=now)
        means = exchange_means(cols)
        out = []
        for a, b in combinations(sorted(means), 2):
            long_ex, short_ex = (a, b) if means[a] <= means[b] else (b, a)
            out.append(_stats_from((symbol, long_ex, short_ex), cols, hours, threshold_apr))
        out.sort(key=lambda p: (p.mean_spread_8h is None, -(p.mean_spread_8h or _ZERO)))
        return out

    async def window(
        self,
        symbol: str,
        hours: float,
        *,
        max_points: int,
        exchange: str | None = None,
        now: datetime | None = None,
    ) -> HistoryWindow:
        """The samples of ``symbol`` (on ``exchange`` only, or every exchange) in the last
        ``hours`` hours up to ``now``, oldest first: every stored row when no exchange has more
        than ``max_points`` in the window, else per exchange the averages of buckets of
        :func:`~perpdex.funding.series.bucket_width_s` seconds (aligned to multiples of the
        width), at most ``max_points`` per exchange."""
        cols = await self.columns(symbol, hours, now=now)
        counts = cols.present.sum(axis=0) if cols.t.size else []
        per_ex = {ex: int(n) for ex, n in zip(cols.exchanges, counts) if exchange is None or ex == exchange}
        if max(per_ex.values(), default=0) <= max_points:
            return HistoryWindow(await self._sample_texts(symbol, hours, exchange, now), [], None)
        width = bucket_width_s(hours * 3600, max_points)
        # thousands of buckets: off the event loop (the columns are never written in place)
        return HistoryWindow([], await asyncio.to_thread(downsample, cols, width, exchange), width)

    async def last_collected(self) -> dict[str, datetime]:
        """Per exchange, the newest ``collected_at`` stored."""
        R = FundingSnapshotRow
        async with self.sessions() as s:
            rows = (await s.execute(select(R.exchange, func.max(R.collected_at)).group_by(R.exchange))).all()
        return {ex: at for ex, at in rows}  # max() keeps the column type: aware UTC datetimes

    async def prune(self, older_than_hours: float, *, now: datetime | None = None) -> int:
        """Delete rows collected more than ``older_than_hours`` hours before ``now``; returns how
        many."""
        R = FundingSnapshotRow
        async with self.sessions() as s, s.begin():
            res = await s.execute(delete(R).where(R.collected_at < _utc(now) - timedelta(hours=older_than_hours)))
        pruned = int(res.rowcount or 0)
        if pruned:
            self.series.clear()
        return pruned


def _numeric_columns(dialect: str) -> list[Any]:
    """The columns of :data:`~perpdex.funding.series.RawRow`, converted by the database: time as
    integer microseconds since the epoch, 8h rate as an integer of 10^-12, the rest floats."""
    R = FundingSnapshotRow
    us: ColumnElement[int]
    if dialect == "postgresql":
        us = cast(func.round(func.extract("epoch", R.collected_at) * 1_000_000), BigInteger)
        r8 = cast(func.round(cast(R.rate_8h, Numeric) * SCALE), BigInteger)
        num = [cast(c, Float) for c in (R.interval_hours, R.mark_price, R.volume_24h_usd, R.open_interest_usd)]
    else:  # SQLite: times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' text, decimals as text
        text_at = type_coerce(R.collected_at, String)
        us = (cast(func.strftime("%s", text_at), BigInteger) * 1_000_000
              + func.coalesce(cast(func.substr(text_at, 21, 6), BigInteger), 0))
        r8 = cast(func.round(cast(type_coerce(R.rate_8h, String), Float) * SCALE), BigInteger)
        num = [cast(type_coerce(c, String), Float)
               for c in (R.interval_hours, R.mark_price, R.volume_24h_usd, R.open_interest_usd)]
    return [us, R.exchange, r8, *num]


def _stats_from(key: PairKey, cols: Columns, hours: float, threshold_apr: Decimal) -> PairStats:
    symbol, long_ex, short_ex = key
    agg = pair_aggregate(cols, long_ex, short_ex, threshold_apr)
    if agg.samples == 0:
        return PairStats(symbol, long_ex, short_ex, hours, 0, None, None, None, None, None, None, 0.0, threshold_apr)
    mean = agg.sum_spread / agg.samples
    persistence = 0.0 if agg.run_start is None else (agg.last_at - agg.run_start).total_seconds() / 3600  # type: ignore[operator]  # last_at is set with run_start
    return PairStats(symbol, long_ex, short_ex, hours, agg.samples, agg.first_at, agg.last_at, mean, mean / _EIGHT,
                     spread_apr(_ZERO, mean), agg.last_spread, persistence, threshold_apr)


def symbol_pair_stats(symbol: str, rows: list[FundingSnapshotRow], hours: float,
                      threshold_apr: Decimal = _ZERO) -> list[PairStats]:
    """See :meth:`FundingHistory.symbol_stats`; ``rows`` are the window's rows of ``symbol``."""
    rates: dict[datetime, dict[str, Decimal]] = defaultdict(dict)
    sums: dict[str, list[Decimal]] = defaultdict(list)
    for row in rows:
        rates[row.collected_at][row.exchange] = row.rate_8h
        sums[row.exchange].append(row.rate_8h)
    means = {ex: sum(v, _ZERO) / len(v) for ex, v in sums.items()}
    out = []
    for a, b in combinations(sorted(means), 2):
        long_ex, short_ex = (a, b) if means[a] <= means[b] else (b, a)
        out.append(pair_stats(symbol, long_ex, short_ex, rates, hours=hours, threshold_apr=threshold_apr))
    out.sort(key=lambda p: (p.mean_spread_8h is None, -(p.mean_spread_8h or _ZERO)))
    return out
