"""The run report: funding rates seen, the opportunity chosen, each position's legs, fees, funding,
price PnL and net PnL — as a JSON-ready dict (money as decimal strings, USD).

Per position (USD unless noted):

* ``price_pnl`` = sum over all fills of (+qty*price for sells, -qty*price for buys) — the realized
  price PnL of both legs once flat (None while the position is open);
* ``entry_fees``/``exit_fees`` from the fills of each phase (rollback fills count as exit);
* ``funding`` = sum of the recorded funding payments of both legs (+ received);
* ``pnl`` = ``price_pnl + funding - entry_fees - exit_fees`` (None while open);
* a position still holding something (any status but ``closed``/``failed``) gets instead
  ``unrealized_price_pnl`` = the same cash flow + (held quantity on each exchange) * (that
  exchange's mark price), and ``unrealized_pnl`` = ``unrealized_price_pnl + funding - fees so
  far``; both None when a held exchange has no known mark (``mark_source``: ``"given"``, the
  marks the caller passed; ``"stored"``, the newest mark price in the funding history, of
  ``mark_time``; None: n/a). Quantities and marks are per exchange unit, as the fills.

``totals`` splits the run into ``realized`` (closed and failed positions) and ``open`` (the
rest, valued as above), each ``{positions, funding, fees, price_pnl, pnl}`` with ``pnl = funding
- fees + price_pnl`` exactly; the top-level ``funding``/``fees``/``price_pnl``/``pnl`` are the
exact sums of both parts (``price_pnl``/``pnl`` None when the open part's are n/a).
``realized_pnl`` repeats ``realized.pnl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import EllipsisType
from typing import Any

from ..funding.collector import FundingSnapshot
from ..funding.history import FundingHistory
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
        "min_volume_24h_usd": _s(o.min_volume_24h_usd), "min_open_interest_usd": _s(o.min_open_interest_usd),
    }


Marks = Mapping[str, Mapping[str, Decimal]]  # exchange -> canonical symbol -> price per exchange unit (USD)
_ZERO = Decimal(0)
_FLAT = ("closed", "failed")


def snapshot_marks(snap: FundingSnapshot | None) -> dict[str, dict[str, Decimal]]:
    """exchange -> symbol -> mark price (USD per exchange unit) of every sample of ``snap`` that
    has one (for :func:`build_report`'s ``marks``)."""
    out: dict[str, dict[str, Decimal]] = {}
    for ex, per in (snap.rates if snap is not None else {}).items():
        for sym, r in per.items():
            if r.mark_price is not None:
                out.setdefault(ex, {})[sym] = r.mark_price
    return out


async def _stored_mark(store: Store, exchange: str, symbol: str) -> tuple[Decimal, datetime] | None:
    rows = await FundingHistory(store.sessions).latest(exchange=exchange, symbol=symbol)
    return (rows[0].mark_price, rows[0].collected_at) if rows and rows[0].mark_price is not None else None


async def _valuation(store: Store, symbol: str, held: dict[str, Decimal], marks: Marks | None
                     ) -> tuple[Decimal | None, dict[str, str], str | None, datetime | None]:
    """(value of ``held`` at marks or None, marks used, source, oldest stored mark's time)."""
    used: dict[str, str] = {}
    value, source, at = _ZERO, "given", None
    for ex, qty in held.items():
        if qty == 0:
            continue
        mark = (marks or {}).get(ex, {}).get(symbol)
        if mark is None:
            stored = await _stored_mark(store, ex, symbol)
            if stored is None:
                return None, used, None, None
            mark, ts = stored
            source, at = "stored", ts if at is None else min(at, ts)
        used[ex] = str(mark)
        value += qty * mark
    return value, used, source, at


async def position_reports(store: Store, since: datetime | None = None,
                           account: str | None | EllipsisType = ..., marks: Marks | None = None) -> list[dict[str, Any]]:
    """Positions still open, or opened or closed at or after ``since`` (all when None); of
    ``account`` only when given (None: those without an account). ``marks`` values what open
    positions hold (see the module doc; the funding history's newest marks otherwise)."""
    out = []
    for pos in await store.positions(account=account):
        if (pos.detail or {}).get("kind") == "grid":
            continue  # a grid's funding holder row: reported by the grid's own report
        if since is not None and pos.status not in ("open", "opening", "closing", "naked") and not (
            pos.opened_at >= since or (pos.closed_at is not None and pos.closed_at >= since)
        ):
            continue
        fills = await store.fills(pos.id)
        funding = await store.funding(pos.id)
        price_pnl = sum(((f.quantity * f.price) if f.side == "sell" else -(f.quantity * f.price) for f in fills), _ZERO)
        entry_fees = sum((f.fee for f in fills if f.phase == "open"), _ZERO)
        exit_fees = sum((f.fee for f in fills if f.phase != "open"), _ZERO)
        f_long = sum((p.amount for p in funding if p.exchange == pos.long_exchange), _ZERO)
        f_short = sum((p.amount for p in funding if p.exchange == pos.short_exchange), _ZERO)
        total_funding = f_long + f_short
        flat = pos.status in _FLAT
        held: dict[str, Decimal] = {}
        for f in fills:
            held[f.exchange] = held.get(f.exchange, _ZERO) + (f.quantity if f.side == "buy" else -f.quantity)
        value, used, source, mark_time = (None, {}, None, None) if flat else await _valuation(store, pos.symbol, held, marks)
        unrealized = None if value is None else price_pnl + value
        out.append({
            "id": pos.id, "strategy": pos.strategy, "symbol": pos.symbol, "status": pos.status,
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
            "held": {} if flat else {ex: str(q) for ex, q in held.items() if q != 0},
            "mark_prices": used, "mark_source": source,
            "mark_time": mark_time.isoformat() if mark_time else None,
            "unrealized_price_pnl": _s(unrealized),
            "unrealized_pnl": _s(None if unrealized is None else unrealized + total_funding - entry_fees - exit_fees),
            "close_reason": pos.close_reason,
            "entry_net_apr": _s(pos.entry_net_apr),
            "fills": [{"phase": f.phase, "exchange": f.exchange, "side": f.side, "quantity": str(f.quantity),
                       "price": str(f.price), "fee": str(f.fee), "liquidity": f.liquidity} for f in fills],
        })
    return out


def _part(positions: list[dict[str, Any]], price_key: str) -> dict[str, Any]:
    """``{positions, funding, fees, price_pnl, pnl}`` of ``positions`` (pnl = funding - fees +
    price_pnl; price_pnl/pnl None when one position's ``price_key`` is None)."""
    funding = sum((Decimal(p["funding"]) for p in positions), _ZERO)
    fees = sum((Decimal(p["entry_fees"]) + Decimal(p["exit_fees"]) for p in positions), _ZERO)
    prices = [p[price_key] for p in positions]
    price = None if None in prices else sum((Decimal(x) for x in prices), _ZERO)
    return {"positions": len(positions), "funding": funding, "fees": fees, "price_pnl": price,
            "pnl": None if price is None else funding - fees + price}


def _strs(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int) else _s(v) for k, v in d.items()}


def totals(positions: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``totals`` of a report from its ``positions`` (see the module doc)."""
    done = [p for p in positions if p["status"] in _FLAT]
    held = [p for p in positions if p["status"] not in _FLAT]
    realized, open_ = _part(done, "price_pnl"), _part(held, "unrealized_price_pnl")
    sources = {p["mark_source"] for p in held}
    open_["mark_source"] = None if None in sources or not sources else ("stored" if "stored" in sources else "given")
    times = [p["mark_time"] for p in held if p["mark_time"]]
    open_["mark_time"] = min(times) if times else None
    both = {k: None if realized[k] is None or open_[k] is None else realized[k] + open_[k]
            for k in ("funding", "fees", "price_pnl", "pnl")}
    return {"positions": len(positions), "closed": len(done), "open": len(held), **_strs(both),
            "realized_pnl": _s(realized["pnl"]), "realized": _strs(realized), "open_positions": _strs(open_)}


async def build_report(store: Store, first: FundingSnapshot | None, chosen: list[Opportunity],
                       *, duration_s: float, errors: dict[str, str] | None = None,
                       since: datetime | None = None, account: str | None | EllipsisType = ...,
                       marks: Marks | None = None) -> dict[str, Any]:
    """The run report; ``since`` (UTC) limits it to positions this run touched, ``account`` to
    that account's (None: those without an account); ``marks`` (exchange -> symbol -> USD per
    exchange unit, e.g. :func:`snapshot_marks` of the last funding round) values open positions,
    the funding history's newest marks otherwise."""
    positions = await position_reports(store, since, account, marks)
    return {
        "duration_s": round(duration_s, 1),
        "funding_rates": snapshot_rows(first),
        "opportunities_chosen": [opportunity_dict(o) for o in chosen],
        "positions": positions,
        "totals": totals(positions),
        "errors": errors or {},
    }


async def closed_pnl(store: Store, position_id: int) -> dict[str, str]:
    """A pair's money once flat, as the run report computes it (USD decimal strings):
    ``price_pnl_usd`` (cash flow of every fill), ``funding_usd`` (both legs, + received),
    ``fees_usd`` (entry and exit) and ``net_pnl_usd`` = price PnL + funding - fees."""
    fills = await store.fills(position_id)
    funding = await store.funding(position_id)
    price_pnl = sum(((f.quantity * f.price) if f.side == "sell" else -(f.quantity * f.price) for f in fills), _ZERO)
    entry_fees = sum((f.fee for f in fills if f.phase == "open"), _ZERO)
    exit_fees = sum((f.fee for f in fills if f.phase != "open"), _ZERO)
    total_funding = sum((p.amount for p in funding), _ZERO)
    return {"price_pnl_usd": str(price_pnl), "funding_usd": str(total_funding), "fees_usd": str(entry_fees + exit_fees),
            "net_pnl_usd": str(price_pnl + total_funding - entry_fees - exit_fees)}
