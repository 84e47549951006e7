"""A whole backtest: load the stored history, simulate the live rules, read the marks of the
positions held, account. ``perpdex backtest`` and the benchmark call :func:`backtest`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import StrategyConfig
from ..storage import Store
from .accounting import BacktestResult, Marks, account
from .engine import BacktestSettings, Progress, load_window, simulate
from .loader import History, load_history, load_marks


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def run_backtest(history: History, cfg: StrategyConfig, settings: BacktestSettings, since: datetime, until: datetime,
                 *, marks: Marks | None = None, progress: Progress | None = None) -> BacktestResult:
    """Simulate and account over an already loaded ``history`` (``marks`` per held market, or None)."""
    return account(simulate(history, cfg, settings, since, until, progress), cfg, settings, marks)


async def backtest(store: Store, cfg: StrategyConfig, settings: BacktestSettings, since: datetime, until: datetime,
                   exchanges: list[str], *, progress: Progress | None = None, recording: Path | None = None,
                   depth_max_age_s: float = 3600.0) -> BacktestResult:
    """Load the history of ``exchanges`` (from :func:`load_window` before ``since`` to ``until``),
    simulate, read the stored marks of every market a position held, account. With
    ``recording`` (a ``perpdex record`` directory) each fill the recording covers is charged the
    slippage of its recorded book (:mod:`.depth`, ``depth_max_age_s``). Raises ValueError when
    nothing is stored in the window or no whole hour lies in it, or for a bad recording."""
    history = await load_history(store, load_window(cfg, since), until, exchanges=exchanges,
                                 symbols=cfg.symbols or None)
    if not history.rows:
        raise ValueError(f"no settled funding stored between {since.isoformat()} and {until.isoformat()} for "
                         f"{', '.join(exchanges)} (perpdex history fetch downloads it)")
    sim = simulate(history, cfg, settings, since, until, progress)
    windows: dict[tuple[str, str], tuple[int, int]] = {}  # market -> (first open, last close), epoch s
    for pos in sim.positions:
        opened, closed = int(sim.clock[pos.opened_h]), int(sim.clock[pos.closed_h or pos.opened_h])
        for k in (pos.long_market, pos.short_market):
            first, last = windows.get(history.keys[k], (opened, closed))
            windows[history.keys[k]] = (min(first, opened), max(last, closed))
    marks: dict = {}
    for (ex, sym), (first, last) in windows.items():  # the entry mark may predate the open: a day back
        marks[(ex, sym)] = await load_marks(store, ex, sym, _utc(first) - timedelta(hours=24), _utc(last))
    if recording is not None:
        from .depth import RecordedDepth

        needs = {(*history.keys[k], int(sim.clock[h])) for pos in sim.positions
                 for h in (pos.opened_h, pos.closed_h if pos.closed_h is not None else pos.opened_h)
                 for k in (pos.long_market, pos.short_market)}
        try:
            depth = await RecordedDepth.load(recording, needs, max_age_s=depth_max_age_s)
        except FileNotFoundError as exc:
            raise ValueError(f"recording {recording}: {exc}") from None
        settings = replace(settings, depth=depth)
    return account(sim, cfg, settings, marks)
