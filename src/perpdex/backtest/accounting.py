"""The money of a backtest: funding per leg, taker fees, slippage, the equity curve and the totals.

Model (USD unless noted; every figure a ``Decimal``):

* **size**: each leg opens ``size_usd`` of notional (the config's), at ``leverage``; the margin of
  a pair is ``2 * size_usd / leverage`` and the **capital committed** is that for every slot,
  ``max_positions * 2 * size_usd / leverage``;
* **price PnL**: none. The legs hold the same base quantity, long on one exchange and short on the
  other, so a price move gains on one leg what it loses on the other; the basis between the two
  exchanges' prices is not modelled. Where mark prices are stored with the settled rates, they
  move each leg's notional: a leg holds ``size_usd / mark at entry`` base units, and its funding,
  exit fee and exit slippage are charged on that quantity times the mark of the moment (the
  latest stored mark at or before it). Without marks a leg's notional stays ``size_usd``;
* **funding**: a leg earns its own exchange's settled rate at its exchange's settlement times
  only, for settlements after the open and up to the close (``open < funding_time <= close``):
  the long leg receives ``-rate * notional``, the short leg ``+rate * notional`` (rate per
  interval, positive: longs pay shorts);
* **fees**: taker on both legs at entry and at exit, ``fee * notional`` (the fee of
  :class:`~perpdex.backtest.engine.BacktestSettings`); **slippage**: ``slippage_bps / 10000 *
  notional`` on the same four fills, or, where a recording covers the fill's market and time,
  the recorded book walked for its size (:mod:`perpdex.backtest.depth`); each position counts its
  fills per source (``depth_fills``, ``model_fills``);
* **net** per position = ``funding - fees - slippage``;
* a **funding flip** is a settlement instant at which a held pair's legs together paid funding;
* the **equity curve** is the cumulative net PnL at each clock hour (costs when paid, funding at
  each settlement); **max drawdown** the largest fall from a running peak (peak starting at 0);
* **net APR** = ``net_pnl / capital * 8760 / hours``; **turnover** the notional of all fills.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from ..config import StrategyConfig
from ..models import HOURS_PER_YEAR
from .engine import BacktestSettings, SimPosition, Simulation

_ZERO = Decimal(0)
_BP = Decimal(10000)

Marks = Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (exchange, symbol) -> (epoch s, USD)


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


@dataclass
class PositionResult:
    """One backtested pair (USD; times UTC; ``entry_net_apr`` fraction per year)."""

    symbol: str
    long_exchange: str
    short_exchange: str
    opened_at: datetime
    closed_at: datetime
    close_reason: str
    entry_net_apr: Decimal
    notional_usd: Decimal
    funding_long: Decimal = _ZERO
    funding_short: Decimal = _ZERO
    fees: Decimal = _ZERO
    slippage: Decimal = _ZERO
    turnover: Decimal = _ZERO
    payments: int = 0
    flips: int = 0
    depth_fills: int = 0  # fills whose slippage came from a recorded book
    model_fills: int = 0  # fills charged the configured slippage_bps
    depth_exhausted: int = 0  # recorded-book fills larger than the book (rest at its deepest level)
    events: list[tuple[int, Decimal]] = field(default_factory=list, repr=False)  # (epoch s, USD)

    @property
    def funding(self) -> Decimal:
        return self.funding_long + self.funding_short

    @property
    def net(self) -> Decimal:
        return self.funding - self.fees - self.slippage


@dataclass
class BacktestResult:
    """Positions, the hourly equity curve (``clock`` epoch s, ``equity`` USD) and :attr:`totals`."""

    positions: list[PositionResult]
    clock: np.ndarray
    equity: list[Decimal]
    totals: dict[str, Any]
    spread_apr: dict[int, np.ndarray]
    symbol_hours: int

    @property
    def hours(self) -> int:
        return len(self.clock)


class _Leg:
    """One leg's notional over time: ``size_usd`` fixed, or base units x the stored mark."""

    def __init__(self, size: Decimal, opened: int, marks: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.size = size
        self.times: np.ndarray | None
        self.prices: np.ndarray | None
        self.times, self.prices = marks if marks is not None and len(marks[0]) else (None, None)
        self.qty: Decimal | None = None
        if self.times is not None:
            entry = self._mark(opened)
            self.qty = size / entry if entry else None

    def _mark(self, ts: int) -> Decimal | None:
        assert self.times is not None and self.prices is not None
        i = int(np.searchsorted(self.times, ts, side="right")) - 1
        return _dec(self.prices[i]) if i >= 0 else None

    def notional(self, ts: int) -> Decimal:
        if self.qty is None:
            return self.size
        mark = self._mark(ts)
        return self.qty * mark if mark is not None else self.size


def _slippage(out: PositionResult, settings: BacktestSettings, exchange: str, symbol: str, buy: bool, ts: int,
              notional: Decimal) -> Decimal:
    """One fill's slippage (USD): from the recorded book when ``settings.depth`` covers it, else
    ``slippage_bps`` of ``notional``; counted in ``out`` by source."""
    if settings.depth is not None:
        from .depth import fill_cost

        depth = settings.depth.depth_at(exchange, symbol, ts)
        fill = fill_cost(depth, buy, notional) if depth is not None else None
        if fill is not None:
            out.depth_fills += 1
            out.depth_exhausted += fill.exhausted
            return fill.cost
    out.model_fills += 1
    return settings.slippage_bps / _BP * notional


def account_position(sim: Simulation, pos: SimPosition, cfg: StrategyConfig, settings: BacktestSettings,
                     marks: Marks | None = None) -> PositionResult:
    """The money of one simulated pair (see the module docstring)."""
    h = sim.history
    assert pos.closed_h is not None and pos.close_reason is not None
    t_open, t_close = int(sim.clock[pos.opened_h]), int(sim.clock[pos.closed_h])
    size = cfg.size_usd
    out = PositionResult(pos.symbol, pos.entry.long_exchange, pos.entry.short_exchange, _utc(t_open), _utc(t_close),
                         pos.close_reason, pos.entry.net_apr, size)
    by_instant: dict[int, Decimal] = defaultdict(lambda: _ZERO)
    open_cost = close_cost = _ZERO
    for k, sign in ((pos.long_market, -1), (pos.short_market, 1)):
        ex, sym = h.keys[k]
        leg = _Leg(size, t_open, (marks or {}).get((ex, sym)))
        fee = settings.leg_fee(ex, sym)
        times = h.times[k]
        first = int(np.searchsorted(times, t_open, side="right"))
        last = int(np.searchsorted(times, t_close, side="right"))
        total = _ZERO
        for i in range(first, last):
            ts = int(times[i])
            amount = sign * _dec(h.rates[k][i]) * leg.notional(ts)
            total += amount
            by_instant[ts] += amount
        if sign < 0:
            out.funding_long = total
        else:
            out.funding_short = total
        out.payments += last - first
        exit_notional = leg.notional(t_close)
        slip_in = _slippage(out, settings, ex, sym, sign < 0, t_open, size)  # the long leg buys to open
        slip_out = _slippage(out, settings, ex, sym, sign > 0, t_close, exit_notional)
        out.fees += fee * (size + exit_notional)
        out.slippage += slip_in + slip_out
        out.turnover += size + exit_notional
        open_cost += fee * size + slip_in
        close_cost += fee * exit_notional + slip_out
    out.flips = sum(1 for v in by_instant.values() if v < 0)
    out.events = [(t_open, -open_cost), *sorted(by_instant.items()), (t_close, -close_cost)]
    return out


def _reason_kind(reason: str) -> str:
    return reason.split(" (", 1)[0]


def account(sim: Simulation, cfg: StrategyConfig, settings: BacktestSettings, marks: Marks | None = None) -> BacktestResult:
    """Positions, equity curve and totals of ``sim`` (see the module docstring for the model)."""
    positions = [account_position(sim, p, cfg, settings, marks) for p in sim.positions]
    per_hour = [_ZERO] * sim.hours
    for p in positions:
        for ts, amount in p.events:
            b = min(int(np.searchsorted(sim.clock, ts, side="left")), sim.hours - 1)
            per_hour[b] += amount
    equity, running, peak, drawdown = [], _ZERO, _ZERO, _ZERO
    for amount in per_hour:
        running += amount
        equity.append(running)
        peak = max(peak, running)
        drawdown = max(drawdown, peak - running)
    capital = cfg.max_positions * 2 * cfg.size_usd / cfg.leverage
    net = sum((p.net for p in positions), _ZERO)
    totals: dict[str, Any] = {
        "since": _utc(int(sim.clock[0])).isoformat(), "until": _utc(int(sim.clock[-1])).isoformat(),
        "hours": sim.hours, "positions": len(positions),
        "funding": sum((p.funding for p in positions), _ZERO), "fees": sum((p.fees for p in positions), _ZERO),
        "slippage": sum((p.slippage for p in positions), _ZERO), "net_pnl": net,
        "capital": capital, "net_apr": net / capital * HOURS_PER_YEAR / sim.hours,
        "max_drawdown": drawdown, "max_drawdown_pct": drawdown / capital,
        "turnover": sum((p.turnover for p in positions), _ZERO), "funding_flips": sum(p.flips for p in positions),
        "close_reasons": dict(Counter(_reason_kind(p.close_reason) for p in positions)),
        "symbol_hours": sim.symbol_hours,
        "slippage_source": {"recorded_depth": sum(p.depth_fills for p in positions),
                            "model": sum(p.model_fills for p in positions),
                            "depth_exhausted": sum(p.depth_exhausted for p in positions)},
    }
    return BacktestResult(positions, sim.clock, equity, totals, sim.spread_apr, sim.symbol_hours)
