"""The API's bounds: every numeric parameter finite and in range (a 422 naming it, never a 500),
and history answers bounded by ``max_points`` with bucketed averages that match the stored rows.
Through httpx against the app over a real SQLite store (the statistics also on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from perpdex.api import create_app
from perpdex.api.schemas import FundingHistoryResponse
from perpdex.exchanges import registry
from perpdex.storage import Store
from perpdex.storage.models import FundingSnapshotRow
from tests.api.conftest import api_client, make_config, stored_api

D = Decimal
E1, E2 = registry.names()[:2]


def cfg(tmp_path):
    return make_config(tmp_path, {E1: {"taker_fee": "0.0003"}, E2: {"taker_fee": "0.0002"}})


@pytest.mark.parametrize("path,params,field", [
    ("/funding-rates", {"max_age_s": "inf"}, "max_age_s"),
    ("/funding-rates", {"max_age_s": "1e300"}, "max_age_s"),
    ("/funding-rates", {"max_age_s": "nan"}, "max_age_s"),
    ("/funding-rates", {"max_age_s": "-5"}, "max_age_s"),
    ("/opportunities", {"hold_hours": "1e-999999"}, "hold_hours"),
    ("/opportunities", {"hold_hours": "1e999999"}, "hold_hours"),
    ("/opportunities", {"hold_hours": "NaN"}, "hold_hours"),
    ("/opportunities", {"hold_hours": "Infinity"}, "hold_hours"),
    ("/opportunities", {"hold_hours": "-1"}, "hold_hours"),
    ("/opportunities", {"min_net_apr": "nan"}, "min_net_apr"),
    ("/opportunities", {"min_net_apr": "-inf"}, "min_net_apr"),
    ("/opportunities", {"min_net_apr": "1e999999"}, "min_net_apr"),
    ("/opportunities", {"min_mean_spread_apr": "sNaN"}, "min_mean_spread_apr"),
    ("/opportunities", {"min_mean_spread_apr": "-1e400"}, "min_mean_spread_apr"),
    ("/opportunities", {"min_persistence_hours": "nan"}, "min_persistence_hours"),
    ("/opportunities", {"min_persistence_hours": "inf"}, "min_persistence_hours"),
    ("/opportunities", {"history_hours": "1e300"}, "history_hours"),
    ("/opportunities", {"history_hours": "nan"}, "history_hours"),
    ("/opportunities", {"history_hours": "-24"}, "history_hours"),
    ("/opportunities", {"limit": "1e3"}, "limit"),
    ("/funding-rates/BTC/history", {"hours": "inf"}, "hours"),
    ("/funding-rates/BTC/history", {"hours": "nan"}, "hours"),
    ("/funding-rates/BTC/history", {"hours": "1e-999999"}, "hours"),
    ("/funding-rates/BTC/history", {"hours": "100000"}, "hours"),
    ("/funding-rates/BTC/history", {"hours": "-1"}, "hours"),
    ("/funding-rates/BTC/history", {"max_points": "1"}, "max_points"),
    ("/funding-rates/BTC/history", {"max_points": "1000000"}, "max_points"),
    ("/funding-rates/BTC/history", {"max_points": "nan"}, "max_points"),
])
async def test_non_finite_and_out_of_range_numbers_are_422_naming_the_parameter(tmp_path, path, params, field):
    async with stored_api(cfg(tmp_path)) as (client, _):
        res = await client.get(path, params=params)
        assert res.status_code == 422, res.text
        [err] = res.json()["detail"]
        assert err["loc"] == ["query", field]


async def test_largest_accepted_values_answer(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, _):
        for path, params in [("/funding-rates", {"max_age_s": 24 * 366 * 3600}),
                             ("/opportunities", {"hold_hours": 24 * 3660, "min_net_apr": -1000,
                                                 "history_hours": 24 * 366, "min_persistence_hours": 24 * 366}),
                             ("/opportunities", {"hold_hours": "0.01", "min_mean_spread_apr": 1000}),
                             ("/funding-rates/BTC/history", {"hours": 24 * 366, "max_points": 2})]:
            res = await client.get(path, params=params)
            assert res.status_code == 200, (path, params, res.text)


async def fill(store: Store, rounds: int, step: timedelta, end: datetime) -> list[dict]:
    """``rounds`` rounds of BTC on E1 and E2 ending at ``end``: E1's 8h rate k * 1e-6 in round k,
    E2's 2e-4 throughout; E2 misses every 10th round."""
    rows = []
    for k in range(rounds):
        at = end - (rounds - 1 - k) * step
        rows.append(dict(exchange=E1, symbol="BTC", collected_at=at, rate=D(k) / 10**6, interval_hours=D(8),
                         rate_8h=D(k) / 10**6, mark_price=D(100 + k), volume_24h_usd=D(1000), open_interest_usd=None))
        if k % 10:
            rows.append(dict(exchange=E2, symbol="BTC", collected_at=at, rate=D("0.00005"), interval_hours=D(2),
                             rate_8h=D("0.0002"), mark_price=D(100), volume_24h_usd=D(2000), open_interest_usd=D(7)))
    async with store.sessions() as s, s.begin():
        await s.execute(insert(FundingSnapshotRow), rows)
    return rows


async def test_history_is_downsampled_to_max_points_with_exact_bucket_averages(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        now = datetime.now(UTC)
        end = now - timedelta(seconds=30)
        rows = await fill(store, 3000, timedelta(minutes=1), end)  # 50 hours at 60 s
        small = (await client.get("/funding-rates/BTC/history", params={"hours": 1})).json()
        assert small["resolution_s"] is None and all(s["samples"] == 1 for s in small["samples"])
        FundingHistoryResponse.model_validate(small)  # the JSON written directly has the model's shape
        assert len([s for s in small["samples"] if s["exchange"] == E1]) in (60, 61)

        body = (await client.get("/funding-rates/BTC/history", params={"hours": 72, "max_points": 100})).json()
        FundingHistoryResponse.model_validate(body)
        width = body["resolution_s"]
        assert width == 3600 and body["max_points"] == 100  # 72 h / 100 -> the next width is 1 h
        e1 = [s for s in body["samples"] if s["exchange"] == E1]
        e2 = [s for s in body["samples"] if s["exchange"] == E2]
        assert 50 <= len(e1) <= 52 and len(e1) <= 100 and len(e2) <= 100
        assert sum(s["samples"] for s in e1) == 3000 and sum(s["samples"] for s in e2) == 2700
        # every point is the mean of the stored rows of its bucket
        for p in e1[:5] + e1[-5:]:
            at = datetime.fromisoformat(p["collected_at"])
            bucket = int(at.timestamp()) // width
            mine = [r for r in rows if r["exchange"] == E1 and int(r["collected_at"].timestamp()) // width == bucket]
            assert p["samples"] == len(mine) and at == min(r["collected_at"] for r in mine)
            mean = sum(r["rate_8h"] for r in mine) / len(mine)
            assert abs(D(p["rate_8h"]) - mean) <= D("1e-15")
            assert abs(D(p["mark_price"]) - sum(r["mark_price"] for r in mine) / len(mine)) <= D("1e-6")
            assert p["open_interest_usd"] is None and D(p["volume_24h_usd"]) == 1000
        assert all(D(p["rate_8h"]) == D("0.0002") and D(p["rate_per_interval"]) == D("0.00005")
                   and D(p["interval_hours"]) == 2 for p in e2)
        times = [datetime.fromisoformat(s["collected_at"]) for s in body["samples"]]
        assert times == sorted(times)

        # the pair statistics cover every round of the window exactly, downsampled or not
        [pair] = body["pairs"]  # E1 has the higher mean (1.5e-3 vs 2e-4): long E2, short E1
        assert (pair["long_exchange"], pair["short_exchange"]) == (E2, E1) and pair["samples"] == 2700
        spreads = [D(k) / 10**6 - D("0.0002") for k in range(3000) if k % 10]
        assert D(pair["mean_spread_8h"]) == sum(spreads) / len(spreads)
        assert D(pair["last_spread_8h"]) == spreads[-1]
        # positive from k = 201 (the first paired round above 2e-4) to k = 2999, one minute apart
        assert pair["persistence_hours"] == pytest.approx((2999 - 201) / 60)

        only = (await client.get("/funding-rates/BTC/history",
                                 params={"hours": 72, "max_points": 2000, "exchange": E2})).json()
        assert only["resolution_s"] == 300 and {s["exchange"] for s in only["samples"]} == {E2}
        assert only["pairs"] == []


async def test_year_window_is_bounded(tmp_path):
    async with stored_api(cfg(tmp_path)) as (client, store):
        await fill(store, 4000, timedelta(hours=2), datetime.now(UTC) - timedelta(minutes=1))  # 333 days
        body = (await client.get("/funding-rates/BTC/history", params={"hours": 24 * 365})).json()
        assert body["resolution_s"] == 21600  # 8760 h / 2000 -> 6 h buckets
        for ex in (E1, E2):
            assert len([s for s in body["samples"] if s["exchange"] == ex]) <= 2000
        assert body["pairs"][0]["samples"] == 3600


async def test_statistics_on_postgresql_match_sqlite(tmp_path, postgres_cluster):
    end = datetime.now(UTC) - timedelta(seconds=30)
    answers = []
    name = postgres_cluster.create_database()
    try:
        for url in (f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", postgres_cluster.url(name)):
            store = Store(url)
            await store.init()
            try:
                await fill(store, 600, timedelta(minutes=1), end)
                async with api_client(create_app(cfg(tmp_path), store=store, collect=False)) as client:
                    body = (await client.get("/funding-rates/BTC/history", params={"hours": 24, "max_points": 50})).json()
                answers.append((body["resolution_s"], body["samples"], body["pairs"]))
            finally:
                await store.close()
    finally:
        postgres_cluster.drop_database(name)
    assert answers[0] == answers[1] and answers[0][0] == 1800
