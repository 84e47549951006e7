"""A whole backtest: load the stored history, simulate the live rules, read the marks of the
positions held, account. ``perpdex backtest`` and the benchmark call :func:`backtest`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..config import StrategyConfig
from ..storage import Store
from .accounting import BacktestResult, Marks, account
from .engine import BacktestSettings, Progress, load_window, simulate
from .loader import History, load_history, load_marks


def run_backtest(history: History, cfg: StrategyConfig, settings: BacktestSettings, since: datetime, until: datetime,
                 *, marks: Marks | None = None, progress: Progress | None = None) -> BacktestResult:
    """Simulate and account over an already loaded ``history`` (``marks`` per held market, or None)."""
    return account(simulate(history, cfg, settings, since, until, progress), cfg, settings, marks)


async def backtest(store: Store, cfg: StrategyConfig, settings: BacktestSettings, since: datetime, until: datetime,
                   exchanges: list[str], *, progress: Progress | None = None) -> BacktestResult:
    """Load the history of ``exchanges`` (from :func:`load_window` before ``since`` to ``until``),
    simulate, read the stored marks of every market a position held, account. Raises ValueError
    when nothing is stored in the window or no whole hour lies in it."""
    history = await load_history(store, load_window(cfg, since), until, exchanges=exchanges,
                                 symbols=cfg.symbols or None)
    if not history.rows:
        raise ValueError(f"no settled funding stored between {since.isoformat()} and {until.isoformat()} for "
                         f"{', '.join(exchanges)} (perpdex history fetch downloads it)")
    sim = simulate(history, cfg, settings, since, until, progress)
    marks: dict = {}
    for pos in sim.positions:
        start = datetime.fromtimestamp(int(sim.clock[pos.opened_h]), timezone.utc) - timedelta(hours=24)
        end = datetime.fromtimestamp(int(sim.clock[pos.closed_h or pos.opened_h]), timezone.utc)
        for k in (pos.long_market, pos.short_market):
            key = history.keys[k]
            times, prices = await load_marks(store, *key, start, end)
            if key in marks:  # the same market held twice: keep both windows
                import numpy as np

                old_t, old_p = marks[key]
                merged = dict(zip(old_t.tolist(), old_p.tolist())) | dict(zip(times.tolist(), prices.tolist()))
                ts = sorted(merged)
                times, prices = np.array(ts, dtype=np.int64), np.array([merged[t] for t in ts])
            marks[key] = (times, prices)
    return account(sim, cfg, settings, marks)
