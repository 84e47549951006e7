from datetime import datetime, timezone
from decimal import Decimal

from perpdex.storage import Store


async def test_positions_fills_and_funding_roundtrip_exact_decimals(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    st = Store(url)
    await st.init()
    p = await st.create_position(symbol="0G", long_exchange="a", short_exchange="b", status="opening",
                                 quantity=Decimal("680.1"), leverage=Decimal(3))
    await st.add_fill(p.id, "open", exchange="a", symbol="0G", side="buy", quantity=Decimal("680.1"),
                      price=Decimal("2.9403"), fee=Decimal("0.0699923"), liquidity="maker", order_id="1")
    ts = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    assert await st.add_funding(p.id, exchange="a", symbol="0G", amount=Decimal("0.2"), rate=Decimal("-0.0001"), ts=ts)
    assert not await st.add_funding(p.id, exchange="a", symbol="0G", amount=Decimal("0.2"), rate=Decimal("-0.0001"), ts=ts)
    # two payments in the same second with distinct exchange ids are two payments
    assert await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=ts, payment_key="7")
    assert await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=ts, payment_key="8")
    assert not await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=ts, payment_key="8")
    await st.update_position(p.id, status="open")
    await st.close()

    # a restart sees everything (same file, new engine)
    st2 = Store(url)
    await st2.init()
    [row] = await st2.positions(["open"])
    assert row.quantity == Decimal("680.1") and row.symbol == "0G"
    [fill] = await st2.fills(row.id)
    assert fill.price == Decimal("2.9403") and fill.fee == Decimal("0.0699923")
    pays = await st2.funding(row.id)
    assert len(pays) == 3
    assert pays[0].ts == ts and sum(p.amount for p in pays) == Decimal("0.4")
    await st2.close()
