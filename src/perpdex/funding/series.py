"""In-memory columns of the stored funding history of a symbol, for pair statistics and downsampling.

Reading a month of one symbol through the ORM (170 k rows for four exchanges at one round a
minute) costs seconds of the event loop; the statistics of ``/funding-rates/{symbol}/history``
and ``/opportunities`` and the downsampled history only need a few numbers per round. A
:class:`SymbolSeries` holds, per collection round of one symbol, the round's time and per exchange
its 8h rate (exact: an integer of 10^-12 units), funding interval, mark price, 24h volume and open
interest, in numpy arrays (about 30 bytes per exchange and round: a month of the default scenario's
10 symbols x 4 exchanges is some 50 MB). :class:`SeriesCache` keeps them per symbol:

* a symbol is loaded on first use from the start of the requested window, in pages of 5 000 rows
  (each a short query and a few milliseconds of conversion, so the event loop keeps answering);
* every later use re-reads only the rows since ``settle_s`` before the newest round it holds (the
  rounds a collector may still be writing), so rounds already held are never read again;
* a window reaching further back than what is held loads the missing part in front;
* the cache holds at most ``max_cells`` (round x exchange) cells; the symbols used least recently
  are dropped first. :meth:`SeriesCache.clear` forgets everything (after a prune, or a round stored
  with a time older than ``settle_s``).

Exactness: 8h rates are held as integers of 10^-12 (exact for rates with at most 12 decimal places,
within 10^-12 otherwise), so sums and means of spreads are exact decimals; mark price, volume and
open interest are floating point (they only feed the averages of downsampled points).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat

import numpy as np

SCALE = 10**12
_SCALE_D = Decimal(SCALE)
_US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (collected_at in microseconds since the epoch, exchange, rate_8h in 10^-12 units, interval_hours,
#  mark_price, volume_24h_usd, open_interest_usd), the last three None when not stored
RawRow = tuple[int, str, int, float, float | None, float | None, float | None]
Fetch = Callable[[str, datetime, datetime | None, int | None], Awaitable[list[RawRow]]]


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (ts - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


@dataclass
class Columns:
    """Rounds of one symbol, oldest first: ``t`` microseconds since the epoch; per exchange (the
    columns of ``exchanges``) ``present`` whether it has a sample in the round, ``r8`` its 8h rate
    in 10^-12 units, ``ih`` interval hours, ``mark``, ``vol``, ``oi`` (NaN when not stored)."""

    exchanges: list[str]
    t: np.ndarray
    present: np.ndarray
    r8: np.ndarray
    ih: np.ndarray
    mark: np.ndarray
    vol: np.ndarray
    oi: np.ndarray

    @property
    def cells(self) -> int:
        return int(self.t.size) * max(len(self.exchanges), 1)

    @staticmethod
    def empty(exchanges: list[str] | None = None) -> Columns:
        ex = list(exchanges or [])
        n = len(ex)
        return Columns(ex, np.zeros(0, np.int64), np.zeros((0, n), bool), np.zeros((0, n), np.int64),
                       np.zeros((0, n), np.float32), np.zeros((0, n), np.float64), np.zeros((0, n), np.float32),
                       np.zeros((0, n), np.float32))

    @staticmethod
    def from_rows(rows: list[RawRow]) -> Columns:
        """Columns of ``rows`` (any order); the last row of an (exchange, time) wins."""
        if not rows:
            return Columns.empty()
        t_all, ex_raw, r8_raw, ih_raw, mk_raw, vol_raw, oi_raw = zip(*rows)
        exchanges = sorted(set(ex_raw))
        col_of = {e: i for i, e in enumerate(exchanges)}
        cols = np.array([col_of[e] for e in ex_raw], dtype=np.int64)
        t, row = np.unique(np.array(t_all, dtype=np.int64), return_inverse=True)
        shape = (t.size, len(exchanges))
        out = Columns(exchanges, t, np.zeros(shape, bool), np.zeros(shape, np.int64), np.zeros(shape, np.float32),
                      np.full(shape, np.nan), np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32))
        out.present[row, cols] = True
        out.r8[row, cols] = np.array(r8_raw, dtype=np.int64)
        out.ih[row, cols] = np.array(ih_raw, dtype=np.float32)
        out.mark[row, cols] = np.array(mk_raw, dtype=np.float64)  # None -> nan
        out.vol[row, cols] = np.array(vol_raw, dtype=np.float64)
        out.oi[row, cols] = np.array(oi_raw, dtype=np.float64)
        return out

    def with_exchanges(self, exchanges: list[str]) -> Columns:
        """The same rounds over ``exchanges`` (a superset of this one's), absent where new."""
        if exchanges == self.exchanges:
            return self
        idx = [exchanges.index(e) for e in self.exchanges]
        n, shape = self.t.size, (self.t.size, len(exchanges))
        out = Columns(exchanges, self.t, np.zeros(shape, bool), np.zeros(shape, np.int64), np.zeros(shape, np.float32),
                      np.full(shape, np.nan), np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32))
        if n:
            for name in ("present", "r8", "ih", "mark", "vol", "oi"):
                getattr(out, name)[:, idx] = getattr(self, name)
        return out

    def slice(self, lo: int, hi: int) -> Columns:
        return Columns(self.exchanges, self.t[lo:hi], self.present[lo:hi], self.r8[lo:hi], self.ih[lo:hi],
                       self.mark[lo:hi], self.vol[lo:hi], self.oi[lo:hi])

    def window(self, start_us: int, end_us: int) -> Columns:
        """The rounds with ``start_us <= t <= end_us``."""
        return self.slice(int(np.searchsorted(self.t, start_us, "left")), int(np.searchsorted(self.t, end_us, "right")))


def concat(parts: list[Columns]) -> Columns:
    """``parts`` (in time order, not overlapping) as one."""
    parts = [p for p in parts if p.t.size] or parts[:1] or [Columns.empty()]
    exchanges = sorted({e for p in parts for e in p.exchanges})
    parts = [p.with_exchanges(exchanges) for p in parts]
    if len(parts) == 1:
        return parts[0]
    return Columns(exchanges, *(np.concatenate([getattr(p, n) for p in parts])
                                for n in ("t", "present", "r8", "ih", "mark", "vol", "oi")))


@dataclass
class SymbolSeries:
    """The held rounds of one symbol: every stored round from ``since_us`` on."""

    symbol: str
    since_us: int
    cols: Columns
    loaded: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    used: float = 0.0


class SeriesCache:
    """Per-symbol :class:`Columns` (see the module docstring). ``fetch(symbol, start, end, limit)``
    returns the stored rows of ``symbol`` with ``start <= collected_at`` (``< end`` unless None),
    oldest first, at most ``limit`` (None: all), as :data:`RawRow` tuples; ``settle_s`` seconds:
    how late a collector may store a round (rounds newer than the newest held minus this are
    re-read); ``page_rows`` rows per query when loading."""

    def __init__(self, fetch: Fetch, *, settle_s: float = 300.0, max_cells: int = 2_000_000,
                 page_rows: int = 5000) -> None:
        self._fetch = fetch
        self.settle_us = int(settle_s * _US)
        self.max_cells = max_cells
        self.page_rows = page_rows
        self._series: OrderedDict[str, SymbolSeries] = OrderedDict()
        self._generation = 0

    def clear(self) -> None:
        """Forget everything held (a load in progress is discarded when it ends)."""
        self._series.clear()
        self._generation += 1

    @property
    def cells(self) -> int:
        return sum(s.cols.cells for s in self._series.values())

    async def _load(self, symbol: str, start: datetime, end: datetime | None) -> Columns:
        """Rows of ``symbol`` from ``start`` to ``end`` (exclusive; None: to the newest), at most
        ``page_rows`` rows per query (whole rounds: a page's last, maybe partial, round starts the
        next page)."""
        parts = []
        lo = start
        while True:
            rows = await self._fetch(symbol, lo, end, self.page_rows)
            if len(rows) < self.page_rows:
                parts.append(Columns.from_rows(rows))
                break
            last = rows[-1][0]
            done = [r for r in rows if r[0] != last]
            if not done:  # one round larger than a page: cannot happen with a sane page size
                raise RuntimeError(f"funding history of {symbol}: a round holds more than {self.page_rows} rows")
            parts.append(Columns.from_rows(done))
            lo = from_us(last)
            await asyncio.sleep(0)  # other requests get the loop between pages
        return concat(parts)

    async def columns(self, symbol: str, start: datetime) -> Columns:
        """Every stored round of ``symbol`` from ``start`` on (at least), up to date."""
        gen = self._generation
        series = self._series.get(symbol)
        if series is None:
            series = self._series[symbol] = SymbolSeries(symbol, to_us(start), Columns.empty(), loaded=False)
        async with series.lock:
            start_us = to_us(start)
            if not series.loaded:
                cols = await self._load(symbol, start, None)
                since = start_us
            else:
                parts: list[Columns] = []
                if start_us < series.since_us:  # the front: the rounds before what is held
                    parts.append(await self._load(symbol, start, from_us(series.since_us)))
                held = series.cols
                tail_from = int(held.t[-1]) - self.settle_us if held.t.size else series.since_us
                parts.append(held.slice(0, int(np.searchsorted(held.t, tail_from, "left"))))
                parts.append(await self._load(symbol, from_us(tail_from), None))
                cols = concat(parts)
                since = min(start_us, series.since_us)
            if gen == self._generation and self._series.get(symbol) is series:
                series.cols, series.since_us, series.loaded = cols, since, True
                series.used = time.monotonic()
                self._series.move_to_end(symbol)
                self._evict(keep=symbol)
            return cols

    def _evict(self, keep: str) -> None:
        total = self.cells
        for name in list(self._series):
            if total <= self.max_cells:
                break
            if name == keep:
                continue
            total -= self._series.pop(name).cols.cells


# -- statistics over held columns ---------------------------------------------------------------

@dataclass(frozen=True)
class PairAggregate:
    """One (long, short) pair over a window: ``samples`` paired rounds, ``sum_spread`` the sum of
    their ``rate_8h(short) - rate_8h(long)`` (exact Decimal), first/last paired round, the last
    round's spread, and the start of the unbroken run of rounds above the threshold that ends at the
    last paired round (None when the last one is not above it)."""

    samples: int
    sum_spread: Decimal
    first_at: datetime | None
    last_at: datetime | None
    last_spread: Decimal | None
    run_start: datetime | None


def pair_aggregate(cols: Columns, long_ex: str, short_ex: str, threshold_apr: Decimal = Decimal(0)) -> PairAggregate:
    """See :class:`PairAggregate`; a round extends the run when its spread's APR
    (``spread_8h / 8 * 8760``) is above ``threshold_apr``."""
    if long_ex not in cols.exchanges or short_ex not in cols.exchanges:
        return PairAggregate(0, Decimal(0), None, None, None, None)
    a, b = cols.exchanges.index(long_ex), cols.exchanges.index(short_ex)
    both = cols.present[:, a] & cols.present[:, b]
    t = cols.t[both]
    if t.size == 0:
        return PairAggregate(0, Decimal(0), None, None, None, None)
    spread = cols.r8[both, b] - cols.r8[both, a]
    total = Decimal(int(spread.sum(dtype=np.int64)))
    limit = threshold_apr * 8 / 8760 * _SCALE_D  # the spread_8h above which a round counts, 10^-12 units
    above = spread > (int(limit) if limit == int(limit) else float(limit))
    not_above = np.flatnonzero(~above)
    if not_above.size == 0:
        run = int(t[0])
    elif not_above[-1] == t.size - 1:
        run = None
    else:
        run = int(t[not_above[-1] + 1])
    return PairAggregate(int(t.size), total / _SCALE_D, from_us(int(t[0])), from_us(int(t[-1])),
                         Decimal(int(spread[-1])) / _SCALE_D, None if run is None else from_us(run))


def exchange_means(cols: Columns) -> dict[str, Decimal]:
    """Mean 8h rate per exchange over the held rounds (exchanges with a sample only)."""
    out = {}
    for i, ex in enumerate(cols.exchanges):
        m = cols.present[:, i]
        n = int(m.sum())
        if n:
            out[ex] = Decimal(int(cols.r8[m, i].sum(dtype=np.int64))) / n / _SCALE_D
    return out


# -- downsampling --------------------------------------------------------------------------------

WIDTHS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800, 604800)
"""Bucket widths of downsampled history, seconds: the smallest at least window / max_points."""


def bucket_width_s(window_s: float, max_points: int) -> int:
    """The smallest width of :data:`WIDTHS_S` that splits ``window_s`` into at most ``max_points``
    buckets (aligned to multiples of the width since the epoch, so the window's two partial ends
    count as one bucket each)."""
    for w in WIDTHS_S:
        if window_s / w + 1 <= max_points:
            return w
    return WIDTHS_S[-1]


@dataclass(frozen=True)
class BucketPoint:
    """The average of one exchange's samples in one bucket: ``collected_at`` the first sample's
    time, ``samples`` how many; rates fractions, mark price quote units, volume and open interest
    USD; None where no sample of the bucket had the value."""

    exchange: str
    collected_at: datetime
    samples: int
    rate: float
    interval_hours: float
    rate_8h: float
    mark_price: float | None
    volume_24h_usd: float | None
    open_interest_usd: float | None


def _mean(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    ok = np.isfinite(values)
    sums = np.add.reduceat(np.where(ok, values, 0.0).astype(np.float64), starts)
    counts = np.add.reduceat(ok.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def downsample(cols: Columns, width_s: int, exchange: str | None = None) -> list[BucketPoint]:
    """Bucketed averages of ``cols`` (see :class:`BucketPoint`), by time then exchange."""
    out: list[BucketPoint] = []
    width_us = width_s * _US
    for i, ex in enumerate(cols.exchanges):
        if exchange is not None and ex != exchange:
            continue
        m = cols.present[:, i]
        if not m.any():
            continue
        t = cols.t[m]
        bucket = t // width_us
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        counts = np.diff(np.r_[starts, t.size])
        r8 = cols.r8[m, i].astype(np.float64) / SCALE
        ih = cols.ih[m, i].astype(np.float64)
        rate_mean = np.add.reduceat(r8 * ih / 8, starts) / counts
        r8_mean = np.add.reduceat(r8, starts) / counts
        ih_max = np.maximum.reduceat(ih, starts)
        mark, vol, oi = (_optional(_mean(c[m, i], starts)) for c in (cols.mark, cols.vol, cols.oi))
        # whole columns to Python numbers at once (a per-element numpy read costs ~10x more)
        out.extend(map(BucketPoint, repeat(ex), map(from_us, t[starts].tolist()), counts.tolist(),
                       rate_mean.tolist(), ih_max.tolist(), r8_mean.tolist(), mark, vol, oi))
    out.sort(key=lambda p: (p.collected_at, p.exchange))
    return out


def _optional(values: np.ndarray) -> list[float | None]:
    """Floats with nan as None."""
    return [None if v != v else v for v in values.tolist()]  # nan is the one float unequal to itself
