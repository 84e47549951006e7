"""The shared user-stream bookkeeping (exchanges/userstream.py), exchange independent: a fill is
counted once per trade id, order updates never move an order backwards, waiting APIs resolve on
events and return what there is on timeout, a failing listener does not stop the others.
End-to-end behaviour on every exchange: tests/exchanges/<name>/test_userstream.py."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from perpdex.exchanges.userstream import UserStream, order_status
from perpdex.models import OrderStatus, Side, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate

D = Decimal


def _fill(trade_id: str, qty: str = "1", order_id: str = "o1") -> UserFill:
    return UserFill("x", "BTC", order_id, trade_id, Side.BUY, D(qty), D("100"), D("0.01"), "taker", 1.0)


def _order(status: OrderStatus, filled: str, remaining: str) -> UserOrderUpdate:
    return UserOrderUpdate("x", "BTC", "o1", status, D(filled), D(remaining))


def test_fill_counted_once_per_trade_id():
    s = UserStream()  # bookkeeping only: no socket, no catalog
    assert s.ingest(_fill("t1")) and not s.ingest(_fill("t1")) and s.ingest(_fill("t2", "2"))
    assert s.duplicates == 1 and s.filled_qty("o1") == D(3) and [f.trade_id for f in s.fills_for("o1")] == ["t1", "t2"]
    assert s.tracked == {"BTC"}


def test_order_updates_never_go_backwards():
    s = UserStream()
    assert s.ingest(_order(OrderStatus.OPEN, "0", "2"))
    assert s.ingest(_order(OrderStatus.PARTIALLY_FILLED, "1", "1"))
    assert not s.ingest(_order(OrderStatus.PARTIALLY_FILLED, "1", "1"))  # same state again
    assert not s.ingest(_order(OrderStatus.OPEN, "0", "2"))  # a late, older update
    assert s.ingest(_order(OrderStatus.CANCELED, "1", "0"))
    assert not s.ingest(_order(OrderStatus.PARTIALLY_FILLED, "1", "1"))  # final stays final
    assert s.order("o1").status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_positions_and_liquidations_deduplicated():
    s = UserStream()
    p = UserPositionUpdate("x", "BTC", D("1"), D("100"))
    assert s.ingest(p) and not s.ingest(p) and s.position("BTC") == p
    liq = UserLiquidation("x", "BTC", Side.SELL, D("1"), D("90"), 2.0, "o9", "t9")
    assert s.ingest(liq) and not s.ingest(liq) and s.liquidations() == [liq]


async def test_waits_resolve_on_events_and_time_out_with_what_there_is():
    s = UserStream()
    waiter = asyncio.ensure_future(s.wait_fill("o1", 5, qty=D(3)))
    final = asyncio.ensure_future(s.wait_order_final("o1", 5))
    await asyncio.sleep(0)
    s.ingest(_fill("t1"))
    await asyncio.sleep(0)
    assert not waiter.done()
    s.ingest(_fill("t2", "2"))
    assert [f.trade_id for f in await waiter] == ["t1", "t2"]
    s.ingest(_order(OrderStatus.FILLED, "3", "0"))
    assert (await final).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert await s.wait_fill("nope", 0.05) == [] and await s.wait_order_final("nope", 0.05) is None
    assert await s.wait_connected(0.05) is False and s.stats()["state"] == "stopped"


def test_listeners_and_queues_get_new_events_only():
    s = UserStream()
    got: list[object] = []

    def broken(ev: object) -> None:
        raise RuntimeError("consumer bug")

    s.add_listener(broken)
    remove = s.add_listener(got.append)
    q = s.queue()
    s.ingest(_fill("t1"))
    s.ingest(_fill("t1"))
    remove()
    s.ingest(_fill("t2"))
    assert [f.trade_id for f in got] == ["t1"]  # type: ignore[attr-defined]
    assert [q.get_nowait().trade_id, q.get_nowait().trade_id] == ["t1", "t2"]  # type: ignore[union-attr]


def test_order_status_mapping():
    assert order_status(D(0), open_=True) is OrderStatus.OPEN
    assert order_status(D(1), open_=True) is OrderStatus.PARTIALLY_FILLED
    assert order_status(D(1), open_=False) is OrderStatus.FILLED
    assert order_status(D(1), open_=False, canceled=True) is OrderStatus.CANCELED
    assert order_status(D(0), open_=False, rejected=True) is OrderStatus.REJECTED


def test_recovered_events_count_as_recovered_never_as_duplicate_frames():
    s = UserStream()
    assert s.ingest(_fill("t1"), recovered=True) and s.recovered_fills == 1
    assert not s.ingest(_fill("t1"), recovered=True) and not s.ingest(_fill("t1"), recovered=True)
    assert s.duplicates == 0 and s.recovered_fills == 1  # a REST re-read of known fills is no duplicate frame
    assert s.ingest(_fill("t2")) and s.recovered_fills == 1 and not s.ingest(_fill("t2")) and s.duplicates == 1
    s.record_reconciliation()
    s.record_reconciliation(RuntimeError("HTTP 429"))
    st = s.stats()
    assert (st["reconciliations"], st["reconcile_errors"], st["recovered_fills"], st["fills"]) == (2, 1, 1, 2)
    assert "HTTP 429" in (s.last_error or "")


def test_canonical_goes_through_the_given_mapping():
    s = UserStream({"BTCUSDT": "BTC"}.__getitem__)
    s.exchange = "x"
    assert s.canonical("BTCUSDT") == "BTC"
    with pytest.raises(ValueError, match=r"\[x\] unknown market 'NOPE'"):
        s.canonical("NOPE")
    with pytest.raises(ValueError):
        UserStream().canonical("BTCUSDT")  # no catalog mapping given
