"""Collection never loses a round to readers: the app collecting from the in-process emulator every
2 s into a real store (an SQLite file holding two days of earlier rounds, and PostgreSQL) while
readers hammer the history, statistics, rates and opportunities through httpx. Every round is
stored (no storage error, no exchange failure) and every answer is a 200."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from perpdex.api import create_app
from perpdex.exchanges import registry
from perpdex.storage import Store
from perpdex.storage.models import FundingSnapshotRow
from tests.api.conftest import api_client, make_config

SYMBOLS = ["BTC", "ETH", "SOL", "AAVE", "XRP"]


async def earlier_rounds(store: Store, hours: int) -> None:
    """``hours`` hours of rounds every 60 s for every exchange and SYMBOLS, ending a minute ago."""
    end = datetime.now(UTC) - timedelta(minutes=1)
    rng = random.Random(3)
    rows = []
    for k in range(hours * 60):
        at = end - timedelta(minutes=k)
        for ex in registry.names():
            for sym in SYMBOLS:
                r8 = Decimal(rng.randint(-300, 300)) / 10**6
                rows.append(dict(exchange=ex, symbol=sym, collected_at=at, rate=r8, interval_hours=Decimal(8),
                                 rate_8h=r8, mark_price=Decimal(100), volume_24h_usd=Decimal(10**7),
                                 open_interest_usd=Decimal(10**6)))
    async with store.sessions() as s, s.begin():
        for i in range(0, len(rows), 5000):
            await s.execute(insert(FundingSnapshotRow), rows[i:i + 5000])


async def hammer(url: str, tmp_path, rounds: int) -> tuple[dict, int]:
    cfg = make_config(tmp_path, {n: {} for n in registry.names()}, sim={"enabled": True, "funding_time_scale": 720},
                      service={"interval_s": 2.0})
    cfg.storage.url = url
    store = Store(url)
    await store.init()
    await earlier_rounds(store, 48)
    answers = 0
    try:
        async with api_client(create_app(cfg, store=store)) as client:
            stop = asyncio.Event()

            async def reader(seed: int) -> None:
                nonlocal answers
                rng = random.Random(seed)
                while not stop.is_set():
                    sym = rng.choice(SYMBOLS)
                    path, params = rng.choice([
                        (f"/funding-rates/{sym}/history", {"hours": rng.choice([1, 24, 48, 720, 8760])}),
                        (f"/funding-rates/{sym}/history", {"hours": 48, "max_points": 10000}),
                        ("/funding-rates", {}), ("/opportunities", {"history_hours": 48}), ("/health", {})])
                    res = await client.get(path, params=params)
                    assert res.status_code == 200, (path, params, res.text)
                    answers += 1
                    # an answer from the per-round cache completes without suspending (in-process
                    # transport): yield, as a socket would, so collection and the other readers run
                    await asyncio.sleep(0)

            readers = [asyncio.create_task(reader(i)) for i in range(8)]
            try:
                for _ in range(1200):  # rounds every 2 s; bounded so a stall fails instead of hanging
                    health = (await client.get("/health")).json()
                    if health["rounds"] >= rounds:
                        break
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.gather(*readers)
    finally:
        await store.close()
    return health, answers


def assert_no_round_lost(health: dict, answers: int, rounds: int) -> None:
    assert health["rounds"] >= rounds, health
    assert health["store_errors"] == 0, health
    for ex in health["exchanges"]:
        assert ex["errors"] == 0 and ex["last_error"] is None, ex
    assert health["status"] == "ok"
    assert answers > rounds  # the readers did run throughout


async def test_readers_do_not_cost_a_round_on_sqlite(tmp_path):
    health, answers = await hammer(f"sqlite+aiosqlite:///{tmp_path / 'load.db'}", tmp_path, rounds=6)
    assert_no_round_lost(health, answers, 6)


async def test_readers_do_not_cost_a_round_on_postgresql(tmp_path, postgres_cluster):
    name = postgres_cluster.create_database()
    try:
        health, answers = await hammer(postgres_cluster.url(name), tmp_path, rounds=6)
    finally:
        postgres_cluster.drop_database(name)
    assert_no_round_lost(health, answers, 6)
