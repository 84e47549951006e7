"""Conditional (stop-market) orders of one emulated venue: accepted, listed, cancelled and
triggered as the four exchanges do (see docs/CONDITIONAL_ORDERS.md).

A conditional order is an engine :class:`~perpdex.sim.engine.Order` of type ``"stop_market"``
with status ``"untriggered"``: it rests in the account's orders (so listing, lookup by id or
client id and :meth:`Venue.cancel_order` work as for any open order) but not in the book, and
reserves no margin when reduce-only. On every market step the venue calls :meth:`ConditionalBook.check`;
when the reference price (mark, last or index, per order) reaches the trigger, the order keeps
its id, turns ``"new"`` (``triggered_ms`` set, an event emitted) and executes as a market order:

* reduce-only (or close-position) orders are capped to the position at trigger time, so a
  triggered stop never opens a reverse position; with no position to reduce the order expires
  (``cancel_reason="reduce_only"``), as every exchange cancels a reduce-only order it cannot apply;
* an unfilled remainder (book exhausted) expires like a market order's.

The ``stop_reject`` fault (``venue.faults.inject("stop_reject")``) makes the next placement
refused as a trigger already reached, on every dialect.

Prices USD per exchange unit, sizes exchange base units, times epoch ms. Errors raise
:class:`~perpdex.sim.engine.SimError`: ``invalid`` (bad size/trigger), ``would_trigger`` (the
trigger is already reached at placement: every exchange refuses such a stop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Event, Order, OrderEvent, SimError, now_ms

if TYPE_CHECKING:
    from .engine import Venue

TRIGGER_BY = ("mark", "last", "index")


class ConditionalBook:
    """The stop-market orders of one :class:`~perpdex.sim.engine.Venue` (``venue.conditional``)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        #: symbol -> (price, venue step) of the last fill on the venue: the "last price" until
        #: the next market step, after which the emulated crowd trades at the mark
        self._last: dict[str, tuple[float, int]] = {}
        venue.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, OrderEvent) and ev.fill is not None:
            self._last[ev.fill.symbol] = (ev.fill.price, self.venue._steps)

    def reference_price(self, symbol: str, trigger_by: str) -> float:
        """The price a ``trigger_by`` order of ``symbol`` compares with its trigger (USD)."""
        if trigger_by == "index":
            return self.venue.mid_price(symbol)
        if trigger_by == "last":
            last = self._last.get(symbol)
            if last is not None and last[1] == self.venue._steps:
                return last[0]
        return self.venue.mark_price(symbol)

    def place(self, account_id: str, symbol: str, side: str, qty: float, trigger_price: float, *,
              trigger_by: str = "mark", reduce_only: bool = True, close_position: bool = False,
              trigger_above: bool | None = None, client_id: str | None = None) -> Order:
        """Rest a stop-market order: ``side`` buy|sell, ``qty`` base units (ignored, 0 allowed, with
        ``close_position``), ``trigger_price`` USD. ``trigger_above`` None is the stop direction:
        a sell fires when the price falls to the trigger, a buy when it rises to it. Raises
        ``SimError('invalid')`` for bad parameters, ``SimError('would_trigger')`` when the
        reference price is already at or through the trigger."""
        v = self.venue
        m = v.market(symbol)
        if not m.active:
            raise SimError("invalid", f"{symbol} is not trading")
        if v.faults.take("stop_reject", symbol):  # a fault test: the exchange refuses this trigger
            raise SimError("would_trigger", f"order would immediately trigger (trigger {trigger_price:g} refused)")
        if side not in ("buy", "sell"):
            raise SimError("invalid", f"bad side {side!r}")
        if trigger_by not in TRIGGER_BY:
            raise SimError("invalid", f"bad trigger type {trigger_by!r}")
        if trigger_price is None or trigger_price <= 0:
            raise SimError("invalid", "trigger price must be positive")
        v._check_grid(trigger_price, m.tick, "trigger price")
        if not close_position:
            if qty <= 0:
                raise SimError("invalid", "quantity must be positive")
            v._check_grid(qty, m.lot, "quantity")
            if qty < float(m.min_size) - 1e-12:
                raise SimError("invalid", f"quantity {qty} below minimum {m.min_size}")
        above = (side == "buy") if trigger_above is None else trigger_above
        ref = self.reference_price(symbol, trigger_by)
        if (ref >= trigger_price) if above else (ref <= trigger_price):
            raise SimError("would_trigger", f"order would immediately trigger ({trigger_by} price {ref:g}, "
                                            f"trigger {trigger_price:g})")
        order = Order(id=v._next_order_id, account=account_id, symbol=symbol, side=side, type="stop_market",
                      qty=0.0 if close_position else qty, price=None, tif="gtc",
                      reduce_only=reduce_only or close_position, client_id=client_id, status="untriggered",
                      trigger_price=trigger_price, trigger_by=trigger_by, trigger_above=above,
                      close_position=close_position)
        v._next_order_id += 1
        v.account(account_id).orders[order.id] = order
        v._track(order)
        v._emit(OrderEvent(account_id, order, None, order.created_ms))
        return order

    def open(self, account_id: str, symbol: str | None = None) -> list[Order]:
        """The untriggered conditional orders of the account (on ``symbol``), oldest first."""
        return [o for o in self.venue.open_orders(account_id, symbol) if o.status == "untriggered"]

    def check(self, symbol: str) -> None:
        """Trigger every untriggered order of ``symbol`` whose reference price reached its trigger."""
        for o in list(self.venue._open.values()):
            if o.symbol != symbol or o.status != "untriggered" or o.trigger_price is None:
                continue
            ref = self.reference_price(symbol, o.trigger_by or "mark")
            if (ref >= o.trigger_price) if o.trigger_above else (ref <= o.trigger_price):
                self._trigger(o)

    def _finish(self, o: Order, status: str, reason: str | None) -> None:
        v = self.venue
        o.status = status
        o.cancel_reason = reason
        o.updated_ms = now_ms()
        v._track(o)
        v._emit(OrderEvent(o.account, o, None, o.updated_ms))

    def _trigger(self, o: Order) -> None:
        """Fire ``o``: it becomes a market order of the same id, capped to the position when
        reduce-only (never reversing it), and executes against the book."""
        v = self.venue
        pos = v.account(o.account).position(o.symbol)
        sign = 1 if o.side == "buy" else -1
        o.triggered_ms = o.updated_ms = now_ms()
        o.status = "new"
        v._emit(OrderEvent(o.account, o, None, o.triggered_ms))
        if o.reduce_only:
            if pos.qty * sign >= 0:  # nothing to reduce: the exchange cancels it
                self._finish(o, "expired", "reduce_only")
                return
            o.qty = abs(pos.qty) if o.close_position else min(o.qty, abs(pos.qty))
        else:
            m = v.markets[o.symbol]
            mark = v.mark_price(o.symbol)
            added = max(abs(pos.qty + sign * o.qty) - abs(pos.qty), 0.0)
            need = added * mark / v.leverage(o.account, o.symbol) + o.qty * mark * m.taker_fee
            if added > 0 and need > v.available_balance(o.account) + 1e-9:
                self._finish(o, "rejected", "margin")
                return
        v._track(o)
        v._take(o, None, v._partial_cap(o.symbol, o.remaining))
        if o.is_open:  # the book ran out: the rest expires as a market order's would
            self._finish(o, "expired" if o.filled > 0 else "canceled", "liquidity")
        v._refresh_book(o.symbol, regenerate=False)
