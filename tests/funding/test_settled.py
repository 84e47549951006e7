"""The settled funding history repository on SQLite and PostgreSQL (``store_url``: each backend, empty database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from perpdex.funding.settled import SettledFunding, SettledFundingStore
from perpdex.storage import Store

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _rows(exchange: str, symbol: str, hours: int, interval: int, start: datetime = T0) -> list[SettledFunding]:
    return [SettledFunding(exchange, symbol, start + timedelta(hours=i * interval), Decimal("0.0001") * (i - 2),
                           Decimal(interval), Decimal("100.5") if i % 2 else None, "GET /test")
            for i in range(hours // interval)]


async def test_add_is_idempotent_and_loads_in_time_order(store_url):
    st = Store(store_url)
    await st.init()
    repo = SettledFundingStore(st.sessions)
    assert await repo.last_time("aster", "BTC") is None
    assert await repo.add(_rows("aster", "BTC", 24, 8)) == 3
    assert await repo.add(_rows("lighter", "BTC", 24, 1)) == 24
    # a re-run over an overlapping window stores only the new rows
    assert await repo.add(_rows("aster", "BTC", 48, 8)) == 3
    assert await repo.last_time("aster", "BTC") == T0 + timedelta(hours=40)

    got = await repo.load(T0 + timedelta(hours=8), T0 + timedelta(hours=17), exchanges=["aster", "lighter"])
    assert [(r.exchange, r.funding_time) for r in got][:2] == [("aster", T0 + timedelta(hours=8)),
                                                             ("lighter", T0 + timedelta(hours=8))]
    assert len(got) == 1 + 1 + 9  # aster at 8h and 16h, lighter 8h..16h
    aster = [r for r in got if r.exchange == "aster"]
    assert aster[0].rate == Decimal("-0.0001") and aster[0].mark_price == Decimal("100.5")
    assert aster[0].rate_8h == Decimal("-0.0001") and aster[0].funding_time.tzinfo is not None
    lighter = [r for r in got if r.exchange == "lighter"]
    assert lighter[0].rate_8h == lighter[0].rate * 8

    cov = {(c.exchange, c.symbol): c for c in await repo.coverage()}
    assert cov["aster", "BTC"].rows == 6 and cov["lighter", "BTC"].rows == 24
    assert cov["lighter", "BTC"].first == T0 and cov["lighter", "BTC"].last == T0 + timedelta(hours=23)
    assert [c.exchange for c in await repo.coverage(["lighter"])] == ["lighter"]
    await st.close()


async def test_add_refuses_a_nonpositive_interval(store_url):
    st = Store(store_url)
    await st.init()
    bad = SettledFunding("aster", "BTC", T0, Decimal("0.0001"), Decimal(0), None, "GET /test")
    with pytest.raises(ValueError, match="interval_hours"):
        await SettledFundingStore(st.sessions).add([bad])
    await st.close()
