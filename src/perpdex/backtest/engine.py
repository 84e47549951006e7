"""The backtest's clock and decisions: the live funding-arb rules, hour by hour, over stored history.

The clock steps hourly from ``since`` (rounded up to the hour) to the last whole hour before
``until``. At each hour ``T``:

1. the **snapshot**: per (exchange, symbol) the latest settled rate with ``funding_time <= T``
   (the live bot sees the rate about to settle; the backtest sees the one that just did). A rate
   older than its own interval plus one hour is stale and left out (a delisted market, a gap);
2. **exits**: :func:`~perpdex.strategies.funding_arb_rules.exit_rule` on every open pair (age,
   spread flipped or eroded on the snapshot's rates, funding payments received so far); a closed
   symbol starts the config's ``reentry_cooldown_s``;
3. **entries**, when a slot is free: the live ranking
   (:func:`~perpdex.strategies.funding_arb_rules.rank`), the live history filter on pair
   statistics of the backtest's own hourly snapshots over ``history_hours``, and
   :class:`~perpdex.strategies.funding_arb_rules.EntrySlots` (max positions, one pair per symbol,
   cooldowns). Every open succeeds (no pre-flight, no failed legs).

Speed: the ranking is called on a compact snapshot, not on all markets. A vectorized float copy
of the ranking's arithmetic gives each symbol's best net APR per hour; the snapshot holds the
symbols ranked high enough that the live ranking over them provably chooses what it would choose
over every market (see :meth:`Backtest._choose`); when that cannot be shown, the candidate set
doubles, up to every qualifying symbol. Funding, fees and slippage are computed afterwards, for
the chosen positions only (:mod:`perpdex.backtest.accounting`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

import numpy as np

from ..config import AppConfig, StrategyConfig
from ..funding.collector import FundingSnapshot
from ..funding.history import PairStats, pair_stats
from ..funding.opportunities import Opportunity
from ..models import HOURS_PER_YEAR, ContractAttributes, FundingRateSample, MarketStats
from ..strategies import funding_arb_rules as rules
from .loader import History

log = logging.getLogger(__name__)

HOUR_S = 3600
EPS = 1e-9  # bound on the float pre-ranking's error against the Decimal ranking (APR fraction)

Progress = Callable[[int, int], None]  # (hours done, hours in all)


@dataclass(frozen=True)
class BacktestSettings:
    """What the backtest charges and filters with.

    * ``fee_overrides[exchange]``: the config's ``taker_fee`` (fraction) or None;
    * ``catalogs[exchange][symbol]``: the exchange's market catalog (its taker fees), when it was
      fetched; an exchange with neither override nor catalog pays ``default_taker_fee``;
    * ``slippage_bps``: cost of each fill of each leg, bp of its notional;
    * ``stats[exchange][symbol]``: 24h volume / open interest (USD) the liquidity filters apply to
      every hour (the current catalog's: history has none); None: those filters are off;
    * ``depth``: recorded books (:class:`~perpdex.backtest.depth.RecordedDepth`) that price each
      fill's slippage where they cover it, instead of ``slippage_bps``; None: the model only.
    """

    fee_overrides: Mapping[str, Decimal | None] = field(default_factory=dict)
    catalogs: Mapping[str, Mapping[str, ContractAttributes]] = field(default_factory=dict)
    default_taker_fee: Decimal = Decimal("0.0005")
    slippage_bps: Decimal = Decimal(0)
    stats: Mapping[str, Mapping[str, MarketStats]] | None = None
    depth: Any = None  # RecordedDepth | None (backtest.depth imports the replay: loaded only when used)

    @classmethod
    def from_config(cls, cfg: AppConfig, *, catalogs: Mapping[str, Mapping[str, ContractAttributes]] | None = None,
                    stats: Mapping[str, Mapping[str, MarketStats]] | None = None) -> BacktestSettings:
        """Overrides from ``exchanges.<name>.taker_fee``, slippage and default fee from ``backtest:``."""
        return cls(fee_overrides={n: e.taker_fee for n, e in cfg.exchanges.items()}, catalogs=catalogs or {},
                   default_taker_fee=cfg.backtest.default_taker_fee, slippage_bps=cfg.backtest.slippage_bps,
                   stats=stats)

    def _fetched(self, exchange: str) -> bool:
        return self.fee_overrides.get(exchange) is not None or bool(self.catalogs.get(exchange))

    def ranking_fee(self, exchange: str) -> Decimal:
        """The taker fee an exchange is ranked with (fraction), as the live strategy ranks."""
        if not self._fetched(exchange):
            return self.default_taker_fee
        return rules.ranking_taker_fee(self.fee_overrides.get(exchange), self.catalogs.get(exchange, {}).values())

    def leg_fee(self, exchange: str, symbol: str) -> Decimal:
        """The taker fee a leg on ``exchange`` pays (fraction), as the live strategy charges it."""
        if not self._fetched(exchange):
            return self.default_taker_fee
        return rules.leg_taker_fee(self.fee_overrides.get(exchange), self.catalogs.get(exchange, {}), symbol)


@dataclass
class SimPosition:
    """One pair the backtest opened: ``entry`` the opportunity as ranked; hours are clock indices;
    ``long_market``/``short_market`` indices into :class:`~perpdex.backtest.loader.History`."""

    entry: Opportunity
    opened_h: int
    long_market: int
    short_market: int
    closed_h: int | None = None
    close_reason: str | None = None

    @property
    def symbol(self) -> str:
        return self.entry.symbol


@dataclass
class Simulation:
    """The decisions of a run: ``positions`` in opening order; ``clock`` the hours (epoch s)."""

    history: History
    clock: np.ndarray
    positions: list[SimPosition]
    spread_apr: dict[int, np.ndarray] = field(default_factory=dict)  # position index -> spread APR per clock hour

    @property
    def hours(self) -> int:
        return len(self.clock)

    @property
    def symbol_hours(self) -> int:
        """Markets loaded x hours simulated (the benchmark's unit)."""
        return len(self.history.keys) * len(self.clock)


def clock_for(since: datetime, until: datetime) -> np.ndarray:
    """Hourly epoch seconds from ``since`` rounded up to the hour, strictly before ``until``."""
    start = math.ceil(since.timestamp() / HOUR_S) * HOUR_S
    end = until.timestamp()
    if end <= start:
        raise ValueError(f"no whole hour between {since.isoformat()} and {until.isoformat()}")
    return np.arange(start, end, HOUR_S, dtype=np.int64)


def lookback_hours(cfg: StrategyConfig) -> float:
    """How much history before ``since`` the backtest needs: the history filter's window, and at
    least a day (the latest settlement of a market with a long interval)."""
    return max(cfg.history_hours, 24.0)


class Backtest:
    """One run over ``history`` (already restricted to the configured exchanges) with ``cfg``
    and ``settings``; :meth:`run` returns the :class:`Simulation`."""

    def __init__(self, history: History, cfg: StrategyConfig, settings: BacktestSettings, clock: np.ndarray) -> None:
        self.history = history
        self.settings = settings
        if settings.stats is None and (cfg.min_volume_24h_usd > 0 or cfg.min_open_interest_usd > 0):
            log.warning("backtest: no 24h volume / open interest known; the liquidity filters are off")
            cfg = cfg.model_copy(update={"min_volume_24h_usd": Decimal(0), "min_open_interest_usd": Decimal(0)})
        self.cfg = cfg
        self.clock = clock
        self.exchanges = sorted({ex for ex, _ in history.keys})
        self.symbols = sorted({sym for _, sym in history.keys})
        self.e_of = {ex: i for i, ex in enumerate(self.exchanges)}
        self.s_of = {sym: i for i, sym in enumerate(self.symbols)}
        self.market = np.full((len(self.exchanges), len(self.symbols)), -1, dtype=np.int64)
        for k, (ex, sym) in enumerate(history.keys):
            self.market[self.e_of[ex], self.s_of[sym]] = k
        self.fees = {ex: settings.ranking_fee(ex) for ex in self.exchanges}
        self._samples: dict[tuple[int, int], FundingRateSample] = {}
        self._index()
        self._pre_rank()

    # -- vectorized state ------------------------------------------------------------------------
    def _index(self) -> None:
        """``idx[h, k]``: market k's latest settlement at or before hour h (-1: none yet);
        ``valid[h, k]``: it is not stale; ``rate8[h, e, s]``: its 8h rate (float, NaN: none)."""
        h = self.history
        n_h, n_k = len(self.clock), len(h.keys)
        self.idx = np.empty((n_h, n_k), dtype=np.int64)
        self.valid = np.zeros((n_h, n_k), dtype=bool)
        self.rate8 = np.full((n_h, len(self.exchanges), len(self.symbols)), np.nan)
        for k, (ex, sym) in enumerate(h.keys):
            i = np.searchsorted(h.times[k], self.clock, side="right") - 1
            self.idx[:, k] = i
            if not len(h.times[k]):
                continue
            j = np.maximum(i, 0)
            ok = (i >= 0) & (self.clock - h.times[k][j] <= h.intervals[k][j] * HOUR_S + HOUR_S)
            self.valid[:, k] = ok
            e, s = self.e_of[ex], self.s_of[sym]
            self.rate8[:, e, s] = np.where(ok, h.rates[k][j] * 8.0 / h.intervals[k][j], np.nan)

    def _pair_mask(self, a: str, b: str) -> np.ndarray:
        """Symbols the live ranking may list for the exchange pair (a, b): the symbol list and the
        liquidity filters, decided exactly as :func:`find_opportunities` does (Decimal)."""
        cfg = self.cfg
        wanted = {s.upper() for s in cfg.symbols} if cfg.symbols else None
        stats = self.settings.stats or {}
        mask = np.ones(len(self.symbols), dtype=bool)
        for s, sym in enumerate(self.symbols):
            if wanted is not None and sym not in wanted:
                mask[s] = False
                continue
            sts = [stats.get(ex, {}).get(sym) for ex in (a, b)]
            vols = [st.volume_24h_usd if st else None for st in sts]
            ois = [st.open_interest_usd if st else None for st in sts]
            if cfg.min_volume_24h_usd > 0 and (None in vols or min(v for v in vols if v is not None) < cfg.min_volume_24h_usd):
                mask[s] = False
            if cfg.min_open_interest_usd > 0 and (None in ois or min(v for v in ois if v is not None) < cfg.min_open_interest_usd):
                mask[s] = False
        return mask

    def _pre_rank(self) -> None:
        """``best[h, s]``: the best net APR (float) any exchange pair of symbol s has at hour h,
        with the ranking's own formula (-inf: no pair)."""
        self.best = np.full((len(self.clock), len(self.symbols)), -np.inf)
        for a, b in combinations(range(len(self.exchanges)), 2):
            ea, eb = self.exchanges[a], self.exchanges[b]
            fee_apr = float(2 * (self.fees[ea] + self.fees[eb]) * HOURS_PER_YEAR / self.cfg.hold_hours)
            net = np.abs(self.rate8[:, a, :] - self.rate8[:, b, :]) / 8.0 * float(HOURS_PER_YEAR) - fee_apr
            net[:, ~self._pair_mask(ea, eb)] = np.nan
            np.fmax(self.best, net, out=self.best)

    # -- the live code's inputs ------------------------------------------------------------------
    def sample(self, k: int, h: int) -> FundingRateSample | None:
        """Market k's sample at hour h (None: no valid settlement), built as the live adapters
        build theirs (per-interval rate -> 8h rate, Decimal)."""
        if not self.valid[h, k]:
            return None
        i = int(self.idx[h, k])
        key = (k, i)
        s = self._samples.get(key)
        if s is None:
            ex, sym = self.history.keys[k]
            s = FundingRateSample.from_interval_rate(ex, sym, Decimal(repr(float(self.history.rates[k][i]))),
                                                     Decimal(repr(float(self.history.intervals[k][i]))))
            self._samples[key] = s
        return s

    def snapshot(self, h: int, symbols: list[str] | set[str]) -> FundingSnapshot:
        """The hour-h :class:`FundingSnapshot` of ``symbols`` on every exchange (the liquidity
        statistics of ``settings.stats`` where known)."""
        snap = FundingSnapshot(ts=float(self.clock[h]))
        stats = self.settings.stats or {}
        for e, ex in enumerate(self.exchanges):
            for sym in symbols:
                k = int(self.market[e, self.s_of[sym]]) if sym in self.s_of else -1
                smp = self.sample(k, h) if k >= 0 else None
                if smp is None:
                    continue
                snap.rates.setdefault(ex, {})[sym] = smp
                st = stats.get(ex, {}).get(sym)
                if st is not None:
                    snap.stats.setdefault(ex, {})[sym] = st
        return snap

    def pair_stats(self, h: int, opps: list[Opportunity]) -> dict[tuple[str, str, str], PairStats]:
        """The live :func:`pair_stats` of each opportunity's pair over the hourly snapshots of the
        last ``history_hours`` hours up to hour h (the history filter's input)."""
        first = max(0, h - int(self.cfg.history_hours))
        out = {}
        for o in opps:
            kl, ks = self.legs(o)
            rates: dict[datetime, dict[str, Decimal]] = {}
            for j in range(first, h + 1):
                at = datetime.fromtimestamp(int(self.clock[j]), UTC)
                for k, ex in ((kl, o.long_exchange), (ks, o.short_exchange)):
                    smp = self.sample(k, j)
                    if smp is not None:
                        rates.setdefault(at, {})[ex] = smp.normalized_rate
            out[o.key] = pair_stats(o.symbol, o.long_exchange, o.short_exchange, rates, hours=self.cfg.history_hours)
        return out

    # -- the run ---------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> Simulation:
        cfg = self.cfg
        positions: list[SimPosition] = []
        open_: list[SimPosition] = []
        cooldown: dict[str, int] = {}  # symbol -> until (epoch s)
        n_h = len(self.clock)
        for h in range(n_h):
            now = int(self.clock[h])
            if open_:
                snap = self.snapshot(h, {p.symbol for p in open_})
                for pos in list(open_):
                    lr, sr = rules.snapshot_rates_8h(snap, pos.symbol, pos.entry.long_exchange, pos.entry.short_exchange)
                    reason = rules.exit_rule(cfg, age_s=float(now - self.clock[pos.opened_h]), long_rate_8h=lr,
                                             short_rate_8h=sr, funding_payments=self.payments(pos, h))
                    if reason is not None:
                        pos.closed_h, pos.close_reason = h, reason
                        open_.remove(pos)
                        cooldown[pos.symbol] = now + int(cfg.reentry_cooldown_s)
            if len(open_) < cfg.max_positions:
                cooling = {s for s, until in cooldown.items() if until > now}
                for opp in self._choose(h, {p.symbol for p in open_}, cooling, len(open_)):
                    pos = SimPosition(opp, h, *self.legs(opp))
                    positions.append(pos)
                    open_.append(pos)
            if progress is not None and (h % 256 == 255 or h == n_h - 1):
                progress(h + 1, n_h)
        for pos in open_:
            pos.closed_h, pos.close_reason = n_h - 1, "end of backtest"
        sim = Simulation(self.history, self.clock, positions)
        for i, pos in enumerate(positions):
            le, se, s = self.e_of[pos.entry.long_exchange], self.e_of[pos.entry.short_exchange], self.s_of[pos.symbol]
            span = slice(pos.opened_h, (pos.closed_h or pos.opened_h) + 1)
            sim.spread_apr[i] = (self.rate8[span, se, s] - self.rate8[span, le, s]) / 8.0 * float(HOURS_PER_YEAR)
        return sim

    def legs(self, opp: Opportunity) -> tuple[int, int]:
        """The markets (History indices) of ``opp``'s long and short leg."""
        s = self.s_of[opp.symbol]
        return int(self.market[self.e_of[opp.long_exchange], s]), int(self.market[self.e_of[opp.short_exchange], s])

    def payments(self, pos: SimPosition, h: int) -> int:
        """Funding settlements both legs saw after the open, up to hour h."""
        return int(self.idx[h, pos.long_market] - self.idx[pos.opened_h, pos.long_market]
                   + self.idx[h, pos.short_market] - self.idx[pos.opened_h, pos.short_market])

    def _choose(self, h: int, held: set[str], cooling: set[str], open_count: int) -> list[Opportunity]:
        """The opportunities the live cycle would open at hour h: rank -> history filter ->
        :class:`EntrySlots`, over a compact snapshot.

        Why the compact snapshot gives the same answer: the snapshot holds every symbol whose
        float best net APR is at least ``cut - 2 EPS`` (``cut``: the N-th best); any other
        opportunity then has a true net APR below ``cut - EPS``. If the selection over the
        compact ranking filled every slot with its last pick at or above ``cut - EPS``, every
        left-out opportunity ranks after that pick in the full ranking, so the full ranking's
        prefix the live loop reads is the same list. Otherwise N doubles, up to every symbol that
        can pass ``min_net_apr``, where the lists are equal."""
        row = self.best[h]
        qual = np.flatnonzero(row >= float(self.cfg.min_net_apr) - EPS)
        if not qual.size:
            return []
        free = self.cfg.max_positions - open_count
        n = min(qual.size, 2 * free + len(held) + len(cooling) + 2)
        while True:
            complete = n >= qual.size
            if complete:
                cand, cut = qual, -np.inf
            else:
                vals = row[qual]
                cut = float(np.partition(vals, vals.size - n)[vals.size - n])
                cand = qual[vals >= cut - 2 * EPS]
            snap = self.snapshot(h, [self.symbols[s] for s in cand])
            opps = rules.rank(self.cfg, snap, self.fees)
            if rules.history_filter_on(self.cfg) and opps:
                opps = rules.history_filter(self.cfg, opps, self.pair_stats(h, opps))
            slots = rules.EntrySlots(self.cfg.max_positions, open_count, set(held), cooling)
            chosen = []
            for opp in slots.candidates(opps):
                chosen.append(opp)
                slots.opened(opp)
            if complete or (slots.full and float(chosen[-1].net_apr) >= cut - EPS):
                return chosen
            n = min(qual.size, 2 * n)


def simulate(history: History, cfg: StrategyConfig, settings: BacktestSettings, since: datetime, until: datetime,
             progress: Progress | None = None) -> Simulation:
    """The decisions of the live funding-arb rules over ``history`` from ``since`` to ``until``
    (see the module docstring). Raises ValueError when no whole hour lies between them."""
    return Backtest(history, cfg, settings, clock_for(since, until)).run(progress)


def load_window(cfg: StrategyConfig, since: datetime) -> datetime:
    """Where loading must start for a run from ``since``: :func:`lookback_hours` earlier."""
    return since - timedelta(hours=lookback_hours(cfg))
