"""The backtest's PNG: cumulative net PnL with entries and exits marked (top) and the funding
spread of each position while it was held (bottom). matplotlib with the Agg backend (no display)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..errors import PerpdexError
from ..files import open_private
from .accounting import BacktestResult


def _when(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def plot(result: BacktestResult, path: Path | str, title: str = "perpdex backtest: funding arbitrage") -> None:
    """Write the chart to ``path`` (PNG). Raises :class:`PerpdexError` naming the fix when
    matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PerpdexError("--plot needs matplotlib: pip install matplotlib") from None
    times = [_when(t) for t in result.clock]
    equity = [float(v) for v in result.equity]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top.plot(times, equity, color="tab:blue", linewidth=1.2, label="cumulative net PnL (USD)")
    index = {int(t): i for i, t in enumerate(result.clock)}
    for p in result.positions:
        i, j = index.get(int(p.opened_at.timestamp())), index.get(int(p.closed_at.timestamp()))
        if i is not None:
            top.scatter(times[i], equity[i], marker="^", color="tab:green", zorder=3)
        if j is not None:
            top.scatter(times[j], equity[j], marker="v", color="tab:red", zorder=3)
    top.scatter([], [], marker="^", color="tab:green", label="entry")
    top.scatter([], [], marker="v", color="tab:red", label="exit")
    top.axhline(0, color="grey", linewidth=0.6)
    top.set_ylabel("USD")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    for n, p in enumerate(result.positions):
        spread = result.spread_apr.get(n)
        i = index.get(int(p.opened_at.timestamp()))
        if spread is None or i is None:
            continue
        bottom.plot(times[i:i + len(spread)], [100 * float(x) for x in spread], linewidth=1,
                    label=f"{p.symbol} {p.long_exchange}/{p.short_exchange}" if n < 8 else None)
    bottom.axhline(0, color="grey", linewidth=0.6)
    bottom.set_ylabel("spread APR %")
    if 0 < len(result.positions) <= 8:
        bottom.legend(loc="upper left", fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    with open_private(path, "wb") as fh:  # 0600: a plot shows the positions and their PnL
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
