"""The loop-thread SQLite writer under the store's order / order-fill writes: the rows it writes read
back through the ORM exactly as the ORM's own, and a locked database sends the write down the
ordinary asynchronous path instead of failing or blocking."""

import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from perpdex.storage import Store
from perpdex.storage.loopwriter import BUSY, LoopWriter
from perpdex.storage.models import OrderRow

TS = datetime(2026, 12, 6, 5, 0, 0, 123456, tzinfo=UTC)


def _order(cid: str) -> dict:
    return dict(strategy="grid", account="acct", exchange="aster", symbol="ETH", client_order_id=cid, role="entry",
                side="buy", price=Decimal("2950.25"), quantity=Decimal("0.0210"), filled=Decimal(0), status="pending",
                reduce_only=False, post_only=True, parent_id=None, detail={"level": 3})


async def _store(tmp_path) -> Store:
    st = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await st.init()
    return st


async def test_rows_written_on_the_loop_read_back_through_the_orm(tmp_path):
    st = await _store(tmp_path)
    assert st._fast is not None  # a file database takes the loop-thread path
    row = await st.add_order(**_order("101"))
    assert row.id and row.filled == Decimal(0) and row.created_at.tzinfo is not None
    fill = await st.add_order_fill(row.id, strategy="grid", exchange="aster", symbol="ETH", order_id="9", trade_id="t1",
                                   side="buy", quantity=Decimal("0.0210"), price=Decimal("2950.25"),
                                   fee=Decimal("-0.00012"), liquidity="maker", ts=TS,
                                   order_fields={"filled": Decimal("0.0210"), "status": "filled", "order_id": "9"})
    assert fill is not None and fill.id
    # the same trade id again: not stored twice, and the order is not touched
    assert await st.add_order_fill(row.id, strategy="grid", exchange="aster", symbol="ETH", order_id="9",
                                   trade_id="t1", side="buy", quantity=Decimal("1"), price=Decimal("1"),
                                   fee=Decimal(0), liquidity="maker", ts=TS,
                                   order_fields={"filled": Decimal("5")}) is None
    updated = await st.update_order(row.id, detail={"level": 3, "tp": 1})
    assert updated.detail == {"level": 3, "tp": 1} and updated.filled == Decimal("0.0210")
    await st.close()

    st2 = Store(st.url)  # a new engine, the ORM only
    await st2.init()
    [o] = await st2.orders("grid")
    assert (o.price, o.quantity, o.filled, o.status, o.order_id) == (Decimal("2950.25"), Decimal("0.0210"),
                                                                      Decimal("0.0210"), "filled", "9")
    assert o.post_only is True and o.reduce_only is False and o.detail == {"level": 3, "tp": 1}
    assert o.updated_at >= o.created_at
    [f] = await st2.order_fills("grid")
    assert (f.trade_id, f.fee, f.ts) == ("t1", Decimal("-0.00012"), TS)
    await st2.close()


async def test_a_missing_order_row_stores_nothing(tmp_path):
    st = await _store(tmp_path)
    with pytest.raises(KeyError, match="order row 77"):
        await st.update_order(77, status="open")
    row = await st.add_order(**_order("102"))
    # a fill of an order that is not stored breaks the foreign key: nothing stored, as on the ORM path
    assert await st.add_order_fill(78, strategy="grid", exchange="aster", symbol="ETH", order_id="9", trade_id="t2",
                                side="buy", quantity=Decimal(1), price=Decimal(1), fee=Decimal(0), liquidity="maker",
                                ts=TS, order_fields={"filled": Decimal(1)}) is None
    assert await st.order_fills("grid") == [] and (await st.orders("grid"))[0].id == row.id
    await st.close()


async def test_a_locked_database_takes_the_async_path(tmp_path):
    st = await _store(tmp_path)
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    assert LoopWriter(str(tmp_path / "w.db")).transaction(lambda conn: 1) is BUSY

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    releaser = asyncio.create_task(release())
    row = await st.add_order(**_order("103"))  # waits on the async path (busy timeout), loop not blocked
    await releaser
    assert isinstance(row, OrderRow) and row.id
    assert [o.client_order_id for o in await st.orders("grid")] == ["103"]
    other.close()
    await st.close()
