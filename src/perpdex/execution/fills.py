"""The fill ledger: every execution of our orders counted exactly once, whichever way it was seen.

Sources, all feeding one :class:`FillLedger`:

* the user-data stream: one event per trade, with the exchange's trade id
  (:meth:`FillLedger.add_trade`); a trade id seen twice counts once;
* REST reconciliation: an order's cumulative filled quantity, average price and fees
  (:meth:`FillLedger.reconcile_order`); only what goes beyond the quantity already recorded for
  that order is new;
* position reconciliation: a position change that no known order explains (an order whose
  acknowledgement was lost and that is no longer open) is recorded as an *unattributed* fill
  (:meth:`FillLedger.add_unattributed`), priced at the touch, so that stored fills always add up to
  the exchange's position.

Per order the ledger keeps the cumulative quantity it recorded; stream trades and REST totals
describe the same cumulative quantity, so mixing both sources never double counts. Quantities are
base units of the exchange's market, prices USD, fees USD (positive = paid).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ..models import Side


@dataclass
class FillRecord:
    """One execution: ``qty`` base units at ``price`` USD, ``fee`` USD, ``liquidity`` maker|taker.
    ``source`` is where it was learnt: ``stream`` | ``rest`` | ``history`` (the exchange's fill
    history, for an order whose answer was lost) | ``position`` (unattributed, price estimated at
    the touch)."""

    exchange: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    order_id: str | None
    ts: float = field(default_factory=time.time)
    trade_id: str | None = None
    source: str = "rest"

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price

    @property
    def signed_qty(self) -> Decimal:
        return self.qty * self.side.sign


FillCallback = Callable[[FillRecord], Awaitable[None]]


@dataclass
class _OrderTotals:
    qty: Decimal = Decimal(0)  # recorded cumulative quantity
    notional: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    stream_qty: Decimal = Decimal(0)  # sum of the stream trades seen for this order


class FillLedger:
    """Deduplicating record of fills; ``on_fill`` is awaited once per new fill (persist it there)."""

    def __init__(self, on_fill: FillCallback | None = None) -> None:
        self.on_fill = on_fill
        self.fills: list[FillRecord] = []
        self._trades: set[tuple[str, str]] = set()
        self._orders: dict[tuple[str, str], _OrderTotals] = {}
        self.duplicates = 0  # reports that added nothing (seen before)

    # -- queries ---------------------------------------------------------------------------------
    def order_filled(self, exchange: str, order_id: str) -> Decimal:
        t = self._orders.get((exchange, order_id))
        return t.qty if t is not None else Decimal(0)

    def knows_order(self, exchange: str, order_id: str) -> bool:
        return (exchange, order_id) in self._orders

    def net(self, exchange: str, symbol: str) -> Decimal:
        """Signed base units bought (+) minus sold (-) on ``exchange`` ``symbol``."""
        return sum((f.signed_qty for f in self.fills if f.exchange == exchange and f.symbol == symbol), Decimal(0))

    def fees(self, exchange: str | None = None) -> Decimal:
        return sum((f.fee for f in self.fills if exchange is None or f.exchange == exchange), Decimal(0))

    # -- sources ---------------------------------------------------------------------------------
    def track(self, exchange: str, order_id: str) -> None:
        """Remember ``order_id`` as ours (so a later report of it is recognised)."""
        self._orders.setdefault((exchange, order_id), _OrderTotals())

    async def add_trade(self, exchange: str, symbol: str, side: Side, order_id: str, trade_id: str, qty: Decimal,
                        price: Decimal, fee: Decimal, liquidity: str, ts: float | None = None,
                        source: str = "stream") -> FillRecord | None:
        """One trade (from the user stream, or ``source="history"``: the exchange's fill history);
        None when it was seen before (same trade id) or REST already recorded that much of the
        order."""
        key = (exchange, trade_id)
        if key in self._trades:
            self.duplicates += 1
            return None
        self._trades.add(key)
        t = self._orders.setdefault((exchange, order_id), _OrderTotals())
        t.stream_qty += qty
        new = t.stream_qty - t.qty
        if new <= 0:
            self.duplicates += 1
            return None
        return await self._record(t, exchange, symbol, side, min(new, qty), price, fee, liquidity, order_id,
                                  trade_id, source, ts)

    async def reconcile_order(self, exchange: str, symbol: str, side: Side, order_id: str, cum_qty: Decimal,
                              avg_price: Decimal | None, cum_fee: Decimal | None, liquidity: str,
                              *, fallback_price: Decimal, fee_rate: Decimal) -> FillRecord | None:
        """An order's cumulative state from REST: records the part of ``cum_qty`` not recorded yet,
        priced so that the order's recorded notional matches ``cum_qty * avg_price`` (else at
        ``fallback_price``); fee from ``cum_fee`` when the exchange reports it, else
        ``fee_rate`` x notional. None when nothing is new."""
        t = self._orders.setdefault((exchange, order_id), _OrderTotals())
        new = cum_qty - t.qty
        if new <= 0:
            if cum_qty > 0:
                self.duplicates += 1
            return None
        price = fallback_price
        if avg_price:
            price = (cum_qty * avg_price - t.notional) / new
            if price <= 0:
                price = avg_price
        fee = new * price * fee_rate
        if cum_fee is not None and cum_fee > t.fee:
            fee = cum_fee - t.fee
        return await self._record(t, exchange, symbol, side, new, price, fee, liquidity, order_id, None, "rest", None)

    async def add_unattributed(self, exchange: str, symbol: str, side: Side, qty: Decimal, price: Decimal,
                               fee: Decimal, liquidity: str = "taker") -> FillRecord:
        """A position change no known order explains (see the module doc)."""
        rec = FillRecord(exchange, symbol, side, qty, price, fee, liquidity, None, source="position")
        await self._append(rec)
        return rec

    async def _record(self, t: _OrderTotals, exchange: str, symbol: str, side: Side, qty: Decimal, price: Decimal,
                      fee: Decimal, liquidity: str, order_id: str, trade_id: str | None, source: str,
                      ts: float | None) -> FillRecord:
        t.qty += qty
        t.notional += qty * price
        t.fee += fee
        rec = FillRecord(exchange, symbol, side, qty, price, fee, liquidity, order_id, trade_id=trade_id, source=source)
        if ts is not None:
            rec.ts = ts
        await self._append(rec)
        return rec

    async def _append(self, rec: FillRecord) -> None:
        self.fills.append(rec)
        if self.on_fill is not None:
            await self.on_fill(rec)
