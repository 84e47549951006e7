"""The store's tables on SQLite and PostgreSQL (``store_url`` / ``store``: each backend, empty database)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from perpdex.storage import Store
from perpdex.storage.models import AccountRow, CredentialRow, FundingSnapshotRow

TS = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_positions_fills_and_funding_roundtrip_exact_decimals(store_url):
    st = Store(store_url)
    await st.init()
    p = await st.create_position(symbol="0G", long_exchange="a", short_exchange="b", status="opening",
                                 quantity=Decimal("680.1"), leverage=Decimal(3))
    await st.add_fill(p.id, "open", exchange="a", symbol="0G", side="buy", quantity=Decimal("680.1"),
                      price=Decimal("2.9403"), fee=Decimal("0.0699923"), liquidity="maker", order_id="1")
    assert await st.add_funding(p.id, exchange="a", symbol="0G", amount=Decimal("0.2"), rate=Decimal("-0.0001"), ts=TS)
    assert not await st.add_funding(p.id, exchange="a", symbol="0G", amount=Decimal("0.2"), rate=Decimal("-0.0001"), ts=TS)
    # two payments in the same second with distinct exchange ids are two payments
    assert await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=TS, payment_key="7")
    assert await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=TS, payment_key="8")
    assert not await st.add_funding(p.id, exchange="b", symbol="0G", amount=Decimal("0.1"), rate=None, ts=TS, payment_key="8")
    await st.update_position(p.id, status="open")
    await st.close()

    # a restart sees everything (same database, new engine)
    st2 = Store(store_url)
    await st2.init()
    [row] = await st2.positions(["open"])
    assert row.quantity == Decimal("680.1") and row.symbol == "0G"
    [fill] = await st2.fills(row.id)
    assert fill.price == Decimal("2.9403") and fill.fee == Decimal("0.0699923")
    pays = await st2.funding(row.id)
    assert len(pays) == 3
    assert pays[0].ts == TS and sum(p.amount for p in pays) == Decimal("0.4")
    await st2.close()


@pytest.mark.parametrize("value", ["0.000000012345678901234567890", "-123456789012345.123456789", "1E-18",
                                   "99999999999999999999.99999999999999999999", "0"])
async def test_decimals_are_exact_beyond_float_precision(store, value):
    p = await store.create_position(symbol="BTC", long_exchange="a", short_exchange="b", status="open",
                                    quantity=Decimal(value), entry_net_apr=Decimal(value))
    await store.add_fill(p.id, "open", exchange="a", symbol="BTC", side="buy", quantity=Decimal(value),
                         price=Decimal(value), fee=Decimal(value), liquidity="taker", order_id=None)
    row = await store.position(p.id)
    [fill] = await store.fills(p.id)
    for got in (row.quantity, row.entry_net_apr, fill.price, fill.fee):
        assert got == Decimal(value) and str(got) == str(Decimal(value))


async def test_funding_payment_counted_once_per_position_exchange_and_key(store):
    a = await store.create_position(symbol="ETH", long_exchange="a", short_exchange="b", status="open")
    b = await store.create_position(symbol="ETH", long_exchange="a", short_exchange="b", status="open")
    pay = {"exchange": "a", "symbol": "ETH", "amount": Decimal("-1.5"), "rate": Decimal("0.0001"), "ts": TS}
    assert await store.add_funding(a.id, **pay, payment_key="42")
    assert not await store.add_funding(a.id, **pay, payment_key="42")  # seen twice: counted once
    assert await store.add_funding(b.id, **pay, payment_key="42")  # another position: its own payment
    assert await store.add_funding(a.id, **{**pay, "exchange": "b"}, payment_key="42")  # other leg
    assert [p.amount for p in await store.funding(a.id)] == [Decimal("-1.5")] * 2
    # the store stays usable after a rejected duplicate
    assert await store.add_funding(a.id, **pay, payment_key="43")


async def test_datetimes_come_back_timezone_aware_utc(store):
    cest = timezone(timedelta(hours=2))
    opened = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=cest)  # 12:30:15.123456 UTC
    p = await store.create_position(symbol="SOL", long_exchange="a", short_exchange="b", status="open",
                                    opened_at=opened, closed_at=datetime(2026, 6, 2, 8, 0))  # naive = UTC
    row = await store.position(p.id)
    assert row.opened_at == opened and row.opened_at.tzinfo == UTC
    assert row.opened_at.hour == 12 and row.opened_at.microsecond == 123456
    assert row.closed_at == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert (await store.position(p.id)).opened_at.utcoffset() == timedelta(0)


async def test_funding_snapshots_insert_and_query_by_pair_and_time(store):
    rows = [FundingSnapshotRow(exchange=ex, symbol="BTC", collected_at=TS + timedelta(hours=h),
                               rate=Decimal("0.0000125") * (h + 1), interval_hours=Decimal(1),
                               rate_8h=Decimal("0.0001") * (h + 1), mark_price=Decimal("91234.5"),
                               volume_24h_usd=Decimal("1234567.89"), open_interest_usd=None,
                               next_funding_time=TS + timedelta(hours=h + 1))
            for ex in ("a", "b") for h in range(3)]
    async with store.sessions() as s, s.begin():
        s.add_all(rows)
    async with store.sessions() as s:
        q = (select(FundingSnapshotRow).where(FundingSnapshotRow.exchange == "a", FundingSnapshotRow.symbol == "BTC",
                                              FundingSnapshotRow.collected_at >= TS + timedelta(hours=1))
             .order_by(FundingSnapshotRow.collected_at))
        got = list((await s.scalars(q)).all())
    assert [r.rate_8h for r in got] == [Decimal("0.0002"), Decimal("0.0003")]
    assert got[0].rate == Decimal("0.0000250") and got[0].open_interest_usd is None
    assert got[1].next_funding_time == TS + timedelta(hours=3) and got[1].collected_at.tzinfo == UTC


async def test_account_credentials_bytes_unique_and_deleted_with_their_account(store):
    blob = bytes(range(256)) * 4  # every byte value, NULs included
    async with store.sessions() as s, s.begin():
        acct = AccountRow(name="main")
        s.add(acct)
        await s.flush()
        s.add_all([CredentialRow(account_id=acct.id, exchange="a", ciphertext=blob, key_id="k1"),
                   CredentialRow(account_id=acct.id, exchange="b", ciphertext=b"\x00", key_id="k1")])
        other = AccountRow(name="other")
        s.add(other)
        await s.flush()
        s.add(CredentialRow(account_id=other.id, exchange="a", ciphertext=b"x", key_id="k2"))
    async with store.sessions() as s:
        creds = list((await s.scalars(select(CredentialRow).where(CredentialRow.account_id == acct.id)
                                      .order_by(CredentialRow.exchange))).all())
    assert [c.ciphertext for c in creds] == [blob, b"\x00"] and creds[0].updated_at.tzinfo == UTC

    with pytest.raises(IntegrityError):  # one credential per (account, exchange)
        async with store.sessions() as s, s.begin():
            s.add(CredentialRow(account_id=acct.id, exchange="a", ciphertext=b"y", key_id="k1"))
    with pytest.raises(IntegrityError):  # account names are unique
        async with store.sessions() as s, s.begin():
            s.add(AccountRow(name="main"))

    async with store.sessions() as s, s.begin():  # the database cascades (no ORM relationship)
        await s.execute(delete(AccountRow).where(AccountRow.id == acct.id))
    async with store.sessions() as s:
        left = list((await s.scalars(select(CredentialRow))).all())
    assert [(c.account_id, c.exchange) for c in left] == [(other.id, "a")]


async def test_foreign_keys_are_enforced(store):
    with pytest.raises(IntegrityError):
        await store.add_fill(9999, "open", exchange="a", symbol="X", side="buy", quantity=Decimal(1),
                             price=Decimal(1), fee=Decimal(0), liquidity="maker", order_id=None)
    with pytest.raises(IntegrityError):
        async with store.sessions() as s, s.begin():
            s.add(CredentialRow(account_id=9999, exchange="a", ciphertext=b"x", key_id="k"))
