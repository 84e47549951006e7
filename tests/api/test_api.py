"""The HTTP API over a real SQLite store holding hand-made samples: answers match the stored data
exactly, filters work, bad parameters get a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from perpdex.exchanges import registry
from perpdex.storage import Store
from perpdex.storage.models import FundingSnapshotRow
from tests.api.conftest import make_config, stored_api

D = Decimal
H = timedelta(hours=1)
E1, E2, E3, E4 = registry.names()[:4]
FEES = {E1: "0.0003", E2: "0", E3: "0.0005"}


async def put(store: Store, exchange: str, symbol: str, at: datetime, rate_8h: str, interval_hours: str,
              volume: str = "5000000", oi: str = "2000000") -> None:
    r8, ih = D(rate_8h), D(interval_hours)
    async with store.sessions() as s, s.begin():
        s.add(FundingSnapshotRow(exchange=exchange, symbol=symbol, collected_at=at, rate=r8 * ih / 8,
                                 interval_hours=ih, rate_8h=r8, mark_price=D("2.94"), volume_24h_usd=D(volume),
                                 open_interest_usd=D(oi), next_funding_time=at + H))


async def seed(store: Store) -> list[datetime]:
    """Rounds T0..T3, an hour apart, the last one a minute ago. X: E1 steady 1 bp/8h (8h interval),
    E2 2, -1, 3, 5 bp/8h (1h interval), E3 2 bp/8h in T3 only (4h interval); Y in T3 only: E1 2 bp,
    E2 1 bp. One X row on E1 48 h old. E4 has nothing."""
    now = datetime.now(UTC)
    t = [now - (3 - k) * H - timedelta(seconds=60) for k in range(4)]
    for k, e2 in enumerate(["0.0002", "-0.0001", "0.0003", "0.0005"]):
        await put(store, E1, "X", t[k], "0.0001", "8")
        await put(store, E2, "X", t[k], e2, "1")
    await put(store, E3, "X", t[3], "0.0002", "4")
    await put(store, E1, "Y", t[3], "0.0002", "8")
    await put(store, E2, "Y", t[3], "0.0001", "1")
    await put(store, E1, "X", now - 48 * H, "0.9", "8")
    return t


def cfg(tmp_path, **strategy):
    exchanges = {n: {"taker_fee": FEES[n]} if n in FEES else {} for n in (E1, E2, E3, E4)}
    return make_config(tmp_path, exchanges, strategy={"hold_hours": 168, **strategy})


def keys(body) -> list[tuple[str, str, str]]:
    return [(o["symbol"], o["long_exchange"], o["short_exchange"]) for o in body["opportunities"]]


async def test_funding_rates_match_stored_rows(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        t = await seed(store)
        body = (await client.get("/funding-rates")).json()
        assert body["count"] == 5
        got = {(r["exchange"], r["symbol"]): r for r in body["rates"]}
        async with store.sessions() as s:
            stored = (await s.scalars(select(FundingSnapshotRow).where(FundingSnapshotRow.collected_at == t[3]))).all()
        assert set(got) == {(r.exchange, r.symbol) for r in stored}
        for row in stored:
            r = got[(row.exchange, row.symbol)]
            assert D(r["rate_per_interval"]) == row.rate and D(r["rate_8h"]) == row.rate_8h
            assert D(r["interval_hours"]) == row.interval_hours and D(r["mark_price"]) == row.mark_price
            assert D(r["volume_24h_usd"]) == row.volume_24h_usd and D(r["open_interest_usd"]) == row.open_interest_usd
            assert datetime.fromisoformat(r["collected_at"]) == row.collected_at
            assert datetime.fromisoformat(r["next_funding_time"]) == row.next_funding_time
            assert r["age_s"] >= 60
        x2 = got[(E2, "X")]  # 5 bp/8h on a 1h interval
        assert (D(x2["rate_per_interval"]), D(x2["rate_hourly"]), D(x2["apr"])) == (D("0.0000625"), D("0.0000625"), D("0.5475"))
        x3 = got[(E3, "X")]  # 2 bp/8h on a 4h interval
        assert (D(x3["rate_per_interval"]), D(x3["rate_hourly"]), D(x3["apr"])) == (D("0.0001"), D("0.000025"), D("0.219"))

        only = (await client.get("/funding-rates", params={"exchange": E1, "symbol": "x"})).json()
        assert [(r["exchange"], r["symbol"], D(r["rate_8h"])) for r in only["rates"]] == [(E1, "X", D("0.0001"))]
        assert (await client.get("/funding-rates", params={"max_age_s": 30})).json()["count"] == 0
        assert (await client.get("/funding-rates", params={"max_age_s": 3600})).json()["count"] == 5
        nope = (await client.get("/funding-rates", params={"symbol": "NOPE"})).json()
        assert (nope["count"], nope["rates"]) == (0, [])


async def test_history_samples_and_pair_statistics(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        t = await seed(store)
        body = (await client.get("/funding-rates/x/history", params={"hours": 24})).json()
        assert body["symbol"] == "X" and body["hours"] == 24
        assert len(body["samples"]) == 9  # the 48 h old row is outside
        times = [datetime.fromisoformat(s["collected_at"]) for s in body["samples"]]
        assert times == sorted(times) and times[0] == t[0]
        pairs = {(p["long_exchange"], p["short_exchange"]): p for p in body["pairs"]}
        assert [(p["long_exchange"], p["short_exchange"]) for p in body["pairs"]] == [(E3, E2), (E1, E2), (E1, E3)]
        p = pairs[(E1, E2)]  # spreads 1, -2, 2, 4 bp/8h
        assert p["samples"] == 4 and p["hours"] == 24
        assert D(p["mean_spread_8h"]) == D("0.000125") and D(p["mean_spread_hourly"]) == D("0.000015625")
        assert D(p["mean_spread_apr"]) == D("0.136875") and D(p["last_spread_8h"]) == D("0.0004")
        assert p["persistence_hours"] == 1.0
        assert datetime.fromisoformat(p["first_at"]) == t[0] and datetime.fromisoformat(p["last_at"]) == t[3]
        assert pairs[(E3, E2)]["samples"] == 1 and pairs[(E3, E2)]["persistence_hours"] == 0.0

        wide = (await client.get("/funding-rates/X/history", params={"hours": 72})).json()
        assert len(wide["samples"]) == 10
        on3 = (await client.get("/funding-rates/X/history", params={"exchange": E3})).json()  # default 24 h
        assert on3["hours"] == 24 and [s["exchange"] for s in on3["samples"]] == [E3] and on3["pairs"] == []
        empty = (await client.get("/funding-rates/ZZZ/history")).json()
        assert empty["samples"] == [] and empty["pairs"] == []


async def test_opportunities_ranked_from_storage_with_filters(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        await seed(store)
        body = (await client.get("/opportunities")).json()
        assert keys(body) == [("X", E1, E2), ("X", E3, E2), ("Y", E2, E1), ("X", E1, E3)]
        assert body["skipped_exchanges"] == {E4: "no sample within the last 300s"}
        assert D(body["hold_hours"]) == 168 and body["history_hours"] == 24 and body["count"] == 4
        top = body["opportunities"][0]
        assert D(top["spread_8h"]) == D("0.0004") and D(top["gross_apr"]) == D("0.438")
        assert D(top["fee_cost"]) == D("0.0006")  # 2 x (3 bp + 0)
        assert D(top["fee_apr"]) == D("0.0006") * 8760 / 168
        assert D(top["net_apr"]) == D("0.438") - D("0.0006") * 8760 / 168
        assert D(top["min_volume_24h_usd"]) == D("5000000")
        assert top["history"]["samples"] == 4 and D(top["history"]["mean_spread_apr"]) == D("0.136875")
        assert top["history"]["persistence_hours"] == 1.0

        async def q(**params):
            res = await client.get("/opportunities", params=params)
            assert res.status_code == 200, res.text
            return keys(res.json())

        assert await q(symbol="y") == [("Y", E2, E1)]
        assert await q(exchange=E3) == [("X", E3, E2), ("X", E1, E3)]
        assert await q(min_net_apr="0.1") == [("X", E1, E2), ("X", E3, E2)]
        assert await q(limit=1) == [("X", E1, E2)]
        assert await q(min_persistence_hours=1) == [("X", E1, E2)]
        assert await q(min_persistence_hours=1.5) == []
        assert await q(min_mean_spread_apr="0.2") == [("X", E3, E2)]
        assert await q(history_hours=1.5, min_persistence_hours=1) == [("X", E1, E2)]
        held = (await client.get("/opportunities", params={"hold_hours": 8760, "limit": 1})).json()
        assert D(held["opportunities"][0]["net_apr"]) == D("0.438") - D("0.0006")


async def test_opportunities_history_filter_defaults_from_strategy_config(tmp_path):
    async with stored_api(cfg(tmp_path, min_persistence_hours=1, history_hours=12)) as (client, store):
        await seed(store)
        body = (await client.get("/opportunities")).json()
        assert keys(body) == [("X", E1, E2)] and body["history_hours"] == 12
        assert keys((await client.get("/opportunities", params={"min_persistence_hours": 0})).json()) == [
            ("X", E1, E2), ("X", E3, E2), ("Y", E2, E1), ("X", E1, E3)]


async def test_health_from_stored_samples(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        await seed(store)
    async with stored_api(cfg(tmp_path)) as (client, store):  # a restart still knows the last success
        body = (await client.get("/health")).json()
        assert body["status"] == "degraded" and body["collecting"] is False and body["rounds"] == 0
        by = {e["exchange"]: e for e in body["exchanges"]}
        assert list(by) == [E1, E2, E3, E4]
        assert all(by[n]["ok"] and 60 <= by[n]["last_success_age_s"] for n in (E1, E2, E3))
        assert D(by[E1]["taker_fee"]) == D("0.0003")
        assert by[E4]["ok"] is False and by[E4]["last_success_at"] is None and by[E4]["taker_fee"] is None


@pytest.mark.parametrize("path,params,field", [
    ("/opportunities", {"limit": 0}, "limit"),
    ("/opportunities", {"limit": 1001}, "limit"),
    ("/opportunities", {"hold_hours": 0}, "hold_hours"),
    ("/opportunities", {"min_net_apr": "lots"}, "min_net_apr"),
    ("/opportunities", {"min_persistence_hours": -1}, "min_persistence_hours"),
    ("/opportunities", {"min_persistence_hours": 30}, "min_persistence_hours"),  # > 24 h of history
    ("/opportunities", {"exchange": "nowhere"}, "exchange"),
    ("/funding-rates", {"exchange": "nowhere"}, "exchange"),
    ("/funding-rates", {"max_age_s": 0}, "max_age_s"),
    ("/funding-rates/X/history", {"hours": 0}, "hours"),
    ("/funding-rates/X/history", {"hours": "a day"}, "hours"),
    ("/funding-rates/X/history", {"exchange": "nowhere"}, "exchange"),
])
async def test_bad_parameters_are_422_naming_the_parameter(tmp_path, path, params, field):
    async with stored_api(cfg(tmp_path)) as (client, _):
        res = await client.get(path, params=params)
        assert res.status_code == 422
        [err] = res.json()["detail"]
        assert err["loc"] == ["query", field]
        if field == "exchange":
            assert "unknown exchange 'nowhere'" in err["msg"] and E1 in err["msg"]
