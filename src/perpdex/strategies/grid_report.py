"""The grid's run report, from storage: every order, the round trips (FIFO), realized PnL, fees,
funding and the open exposure. Money USD, sizes base units, times ISO UTC.

Identity (tested): ``realized_pnl = closed_price_pnl - fees + funding``; the open exposure's
unrealized price PnL at the mark is reported apart and never mixed into it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..storage import OrderRole

if TYPE_CHECKING:
    from .grid import GridStrategy


def _s(x: Any) -> Any:
    return None if x is None else f"{x:f}" if isinstance(x, Decimal) else x


async def grid_report(grid: GridStrategy) -> dict[str, Any]:
    store = grid.runtime.store
    orders = [o for o in await store.orders(grid.name) if o.exchange == grid.client.name and o.symbol == grid.symbol]
    fills = await store.order_fills(grid.name)
    book = await grid.lot_book_now()
    funding = Decimal(0)
    if grid.holder is not None:
        funding = sum((p.amount for p in await store.funding(grid.holder.id)), Decimal(0))
    mark: Decimal | None = None
    try:
        bid, ask = await grid.fetch_touch()
        mark = (bid + ask) / 2
    except Exception:  # noqa: BLE001 - a report without a mark is still a report
        mark = None
    price_pnl = book.realized_price_pnl
    realized = price_pnl - book.fees + funding
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat()

    return {
        "name": grid.name, "kind": "grid", "exchange": grid.client.name, "symbol": grid.symbol,
        "direction": grid.cfg.direction,
        "orders": [{"time": o.created_at.isoformat(), "client_order_id": o.client_order_id, "order_id": o.order_id,
                    "role": o.role, "side": o.side, "quantity": _s(o.quantity), "filled": _s(o.filled),
                    "price": _s(o.price), "status": o.status} for o in orders],
        "fills": len(fills),
        "round_trips": [{"quantity": _s(rt.qty), "entry_price": _s(rt.entry_price), "exit_price": _s(rt.exit_price),
                         "entry_time": iso(rt.entry_ts), "exit_time": iso(rt.exit_ts), "price_pnl": _s(rt.price_pnl)}
                        for rt in book.round_trips],
        "closed_price_pnl": _s(price_pnl),
        "fees": _s(book.fees),
        "funding": _s(funding),
        "realized_pnl": _s(realized),
        "open": {"quantity": _s(book.open_qty), "avg_entry": _s(book.avg_entry.quantize(Decimal("1e-8")) if book.avg_entry is not None else None), "mark": _s(mark),
                 "unrealized_price_pnl": _s(book.unrealized(mark) if mark is not None else None),
                 "resting_take_profits": len(grid.orders.live(OrderRole.TAKE_PROFIT))},
        "repairs": grid.state.repairs,
        "halted": grid.state.halted,
        "paused": grid.state.paused,
    }
