"""The run report: funding rates seen, the opportunity chosen, each position's legs, fees, funding,
price PnL and net PnL — as a JSON-ready dict.

Per position (USD unless noted):

* ``price_pnl`` = sum over all fills of (+qty*price for sells, -qty*price for buys) — the realized
  price PnL of both legs once flat;
* ``entry_fees``/``exit_fees`` from the fills of each phase (rollback fills count as exit);
* ``funding`` = sum of the recorded funding payments of both legs (+ received);
* ``pnl`` = ``price_pnl + funding - entry_fees - exit_fees``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import EllipsisType
from typing import Any

from ..funding.collector import FundingSnapshot
from ..funding.opportunities import Opportunity
from ..storage import Store


def _s(x: Any) -> Any:
    return None if x is None else str(x)


def snapshot_rows(snap: FundingSnapshot | None) -> list[dict[str, Any]]:
    """One row per (exchange, symbol): raw per-interval rate, interval hours, 8h rate, APR."""
    rows: list[dict[str, Any]] = []
    if snap is None:
        return rows
    for ex in sorted(snap.rates):
        for sym in sorted(snap.rates[ex]):
            r = snap.rates[ex][sym]
            st = snap.stats.get(ex, {}).get(sym)
            rows.append({
                "exchange": ex, "symbol": sym, "rate_per_interval": str(r.raw_rate),
                "interval_hours": str(r.interval_hours), "rate_8h": str(r.normalized_rate), "apr": str(r.apr),
                "next_funding_time": r.next_funding_time.isoformat() if r.next_funding_time else None,
                "volume_24h_usd": _s(st.volume_24h_usd) if st else None,
                "open_interest_usd": _s(st.open_interest_usd) if st else None,
            })
    return rows


def opportunity_dict(o: Opportunity) -> dict[str, Any]:
    return {
        "symbol": o.symbol, "long_exchange": o.long_exchange, "short_exchange": o.short_exchange,
        "long_rate_8h": str(o.long_rate_8h), "short_rate_8h": str(o.short_rate_8h), "spread_8h": str(o.spread_8h),
        "gross_apr": str(o.gross_apr), "fee_apr": str(o.fee_apr), "net_apr": str(o.net_apr),
    }


async def position_reports(store: Store, since: datetime | None = None,
                           account: str | None | EllipsisType = ...) -> list[dict[str, Any]]:
    """Positions still open, or opened or closed at or after ``since`` (all when None); of
    ``account`` only when given (None: those without an account)."""
    out = []
    for pos in await store.positions(account=account):
        if since is not None and pos.status not in ("open", "opening", "closing", "naked") and not (
            pos.opened_at >= since or (pos.closed_at is not None and pos.closed_at >= since)
        ):
            continue
        fills = await store.fills(pos.id)
        funding = await store.funding(pos.id)
        price_pnl = sum(((f.quantity * f.price) if f.side == "sell" else -(f.quantity * f.price) for f in fills), Decimal(0))
        entry_fees = sum((f.fee for f in fills if f.phase == "open"), Decimal(0))
        exit_fees = sum((f.fee for f in fills if f.phase != "open"), Decimal(0))
        f_long = sum((p.amount for p in funding if p.exchange == pos.long_exchange), Decimal(0))
        f_short = sum((p.amount for p in funding if p.exchange == pos.short_exchange), Decimal(0))
        total_funding = f_long + f_short
        flat = pos.status in ("closed", "failed")
        out.append({
            "id": pos.id, "symbol": pos.symbol, "status": pos.status,
            "long_exchange": pos.long_exchange, "short_exchange": pos.short_exchange,
            "size": str(pos.quantity), "leverage": str(pos.leverage),
            "entry_long_price": _s(pos.entry_long_price), "entry_short_price": _s(pos.entry_short_price),
            "exit_long_price": _s(pos.exit_long_price), "exit_short_price": _s(pos.exit_short_price),
            "opened_at": pos.opened_at.isoformat(), "closed_at": pos.closed_at.isoformat() if pos.closed_at else None,
            "entry_fees": str(entry_fees), "exit_fees": str(exit_fees),
            "funding_long": str(f_long), "funding_short": str(f_short), "funding": str(total_funding),
            "funding_payments": len(funding),
            "price_pnl": str(price_pnl) if flat else None,
            "pnl": str(price_pnl + total_funding - entry_fees - exit_fees) if flat else None,
            "close_reason": pos.close_reason,
            "entry_net_apr": _s(pos.entry_net_apr),
            "fills": [{"phase": f.phase, "exchange": f.exchange, "side": f.side, "quantity": str(f.quantity),
                       "price": str(f.price), "fee": str(f.fee), "liquidity": f.liquidity} for f in fills],
        })
    return out


async def build_report(store: Store, first: FundingSnapshot | None, chosen: list[Opportunity],
                       *, duration_s: float, errors: dict[str, str] | None = None,
                       since: datetime | None = None, account: str | None | EllipsisType = ...) -> dict[str, Any]:
    """The run report; ``since`` (UTC) limits it to positions this run touched, ``account`` to
    that account's (None: those without an account)."""
    positions = await position_reports(store, since, account)
    done = [p for p in positions if p["pnl"] is not None]
    return {
        "duration_s": round(duration_s, 1),
        "funding_rates": snapshot_rows(first),
        "opportunities_chosen": [opportunity_dict(o) for o in chosen],
        "positions": positions,
        "totals": {
            "positions": len(positions),
            "closed": len(done),
            "funding": str(sum((Decimal(p["funding"]) for p in positions), Decimal(0))),
            "fees": str(sum((Decimal(p["entry_fees"]) + Decimal(p["exit_fees"]) for p in positions), Decimal(0))),
            "pnl": str(sum((Decimal(p["pnl"]) for p in done), Decimal(0))),
        },
        "errors": errors or {},
    }
