"""The backtest's JSON report: positions and totals as JSON-ready dicts (money as decimal strings,
USD; APRs and rates fractions; times ISO 8601 UTC). The model behind each figure is in
:mod:`perpdex.backtest.accounting`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .accounting import BacktestResult, PositionResult


def _json(x: Any) -> Any:
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, dict):
        return {k: _json(v) for k, v in x.items()}
    return x


def position_dict(p: PositionResult) -> dict[str, Any]:
    return {
        "symbol": p.symbol, "long_exchange": p.long_exchange, "short_exchange": p.short_exchange,
        "opened_at": p.opened_at.isoformat(), "closed_at": p.closed_at.isoformat(),
        "hours": (p.closed_at - p.opened_at).total_seconds() / 3600, "entry_net_apr": str(p.entry_net_apr),
        "notional_usd": str(p.notional_usd), "funding_long": str(p.funding_long), "funding_short": str(p.funding_short),
        "funding": str(p.funding), "fees": str(p.fees), "slippage": str(p.slippage), "net": str(p.net),
        "payments": p.payments, "flips": p.flips, "close_reason": p.close_reason,
        "slippage_fills": {"recorded_depth": p.depth_fills, "model": p.model_fills},
    }


def report_dict(result: BacktestResult, *, fees: Mapping[str, tuple[Decimal, str]] | None = None,
                settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"totals", "positions", "equity", "fees", "settings"}``; ``fees[exchange] = (ranking
    taker fee, where it came from)``; ``equity`` the hourly curve as ``[time, USD]`` pairs."""
    return {
        "totals": _json(result.totals),
        "positions": [position_dict(p) for p in result.positions],
        "fees": {ex: {"taker_fee": str(fee), "source": src} for ex, (fee, src) in (fees or {}).items()},
        "settings": _json(dict(settings or {})),
        "equity": [[datetime.fromtimestamp(int(t), UTC).isoformat(), str(v)]
                   for t, v in zip(result.clock, result.equity)],
    }
