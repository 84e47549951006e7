"""Sorting, filtering and cutting the rows of ``perpdex funding`` and ``perpdex scan`` (the
JSON-ready dicts of :mod:`perpdex.strategies.report`), so a catalog of hundreds of markets per
exchange stays readable. Pure functions: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Row = dict[str, Any]

#: Default ``--top`` of the tables (JSON output lists every row unless ``--top`` is given).
FUNDING_TOP = 40
SCAN_TOP = 20


def dec(x: Any) -> Decimal | None:
    return None if x is None else Decimal(str(x))


def _desc(field: str) -> Callable[[Row], tuple]:
    """Largest ``field`` first, rows without it last."""
    def key(r: Row) -> tuple:
        v = dec(r.get(field))
        return (v is None, -(v or Decimal(0)), r["symbol"])
    return key


def _abs_desc(field: str) -> Callable[[Row], tuple]:
    def key(r: Row) -> tuple:
        v = dec(r.get(field))
        return (v is None, -abs(v or Decimal(0)), r["symbol"])
    return key


@dataclass(frozen=True)
class Sort:
    """One ``--sort`` choice: its help text and the row key (ascending sort)."""

    help: str
    key: Callable[[Row], tuple]


FUNDING_SORTS: dict[str, Sort] = {
    "volume": Sort("24h volume, largest first", _desc("volume_24h_usd")),
    "oi": Sort("open interest, largest first", _desc("open_interest_usd")),
    "apr": Sort("funding APR, highest first (longs pay the most)", _desc("apr")),
    "abs-apr": Sort("funding APR by magnitude, either sign", _abs_desc("apr")),
    "symbol": Sort("symbol, then exchange", lambda r: (r["symbol"], r["exchange"])),
    "exchange": Sort("exchange, then symbol", lambda r: (r["exchange"], r["symbol"])),
}

SCAN_SORTS: dict[str, Sort] = {
    "apr": Sort("net APR after fees, best first", _desc("net_apr")),
    "spread": Sort("funding spread per 8h (gross, before fees), widest first", _desc("spread_8h")),
    "volume": Sort("the smaller 24h volume of the two legs, largest first", _desc("min_volume_24h_usd")),
    "oi": Sort("the smaller open interest of the two legs, largest first", _desc("min_open_interest_usd")),
    "symbol": Sort("symbol, then net APR", lambda r: (r["symbol"], -(dec(r["net_apr"]) or 0))),
}


def sort_help(sorts: dict[str, Sort]) -> str:
    return "; ".join(f"{name}: {s.help}" for name, s in sorts.items())


def split_list(value: str | None, *, upper: bool = False) -> list[str] | None:
    """``"btc, eth"`` -> ``["BTC", "ETH"]`` (with ``upper``); None or blank -> None."""
    if value is None:
        return None
    items = [v.strip().upper() if upper else v.strip().lower() for v in value.split(",") if v.strip()]
    return items or None


def filter_funding(rows: Iterable[Row], *, symbols: list[str] | None = None, min_abs_apr: Decimal | None = None,
                   min_volume_usd: Decimal | None = None) -> list[Row]:
    """The funding rows of ``symbols`` (canonical; None: all) whose APR magnitude (fraction per
    year) is at least ``min_abs_apr`` and whose 24h volume (USD) is at least ``min_volume_usd``
    (a row without volume fails a volume filter)."""
    wanted = set(symbols) if symbols else None
    out = []
    for r in rows:
        if wanted is not None and r["symbol"] not in wanted:
            continue
        if min_abs_apr is not None and abs(dec(r["apr"]) or Decimal(0)) < min_abs_apr:
            continue
        vol = dec(r.get("volume_24h_usd"))
        if min_volume_usd is not None and (vol is None or vol < min_volume_usd):
            continue
        out.append(r)
    return out


def sort_and_cut(rows: list[Row], sorts: dict[str, Sort], sort: str, top: int | None) -> tuple[list[Row], int]:
    """(the first ``top`` rows in ``sort`` order (``top`` None or 0: all), rows hidden).
    Raises KeyError for an unknown ``sort``."""
    ordered = sorted(rows, key=sorts[sort].key)
    if not top:
        return ordered, 0
    return ordered[:top], max(len(ordered) - top, 0)


def footer(shown: int, hidden: int, what: str, sort: str, sorts: dict[str, Sort]) -> str:
    """``"showing 40 of 1,100 funding rates (24h volume, largest first); 1,060 hidden: --top 0
    shows all"``."""
    line = f"showing {shown:,} of {shown + hidden:,} {what} ({sorts[sort].help})"
    return line + (f"; {hidden:,} hidden: --top 0 shows all" if hidden else "")
