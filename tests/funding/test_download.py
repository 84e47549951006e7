"""The funding-history download (funding/download.py) against the real emulator over loopback and
a real SQLite store: it stores what the exchanges serve, a re-run adds nothing, an interrupted
download resumes to the same rows, and one exchange's error ends that symbol only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perpdex.errors import MarketNotFound
from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeSettings
from perpdex.funding.download import default_symbols, plan_downloads, run_downloads
from perpdex.funding.settled import SettledFundingStore
from perpdex.sim.server import start_emulators
from perpdex.storage import Store

NAMES = ["aster", "lighter", "backpack", "paradex"]


class Interrupt(Exception):
    """Raised from the progress hook: stands in for Ctrl-C after the first stored page."""


class StopAfterFirstPage:
    def page(self, task, result):
        raise Interrupt

    def done(self, task, result):
        pass


@pytest.fixture
async def world(tmp_path):
    cluster = await start_emulators(run_market=False)
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await store.init()
    clients = {}
    for n in NAMES:
        ep = cluster.endpoints[n]
        clients[n] = registry.client_class(n)(ExchangeSettings(n, ep["rest_url"], ep["ws_url"], options={"ccxt": ep["ccxt"]}))
    try:
        yield cluster, clients, SettledFundingStore(store.sessions)
    finally:
        for c in clients.values():
            await c.close()
        await store.close()
        await cluster.stop()


def _window(cluster):
    until = datetime.fromtimestamp(min(v.started_ms for v in cluster.sim.venues.values()) / 1000, tz=UTC)
    return until - timedelta(days=2), until


async def test_download_stores_everything_once_and_a_rerun_adds_nothing(world):
    cluster, clients, repo = world
    since, until = _window(cluster)
    symbols = {n: ["BTC", "ETH"] for n in NAMES}
    results = await run_downloads(clients, repo, await plan_downloads(repo, symbols, since, until))
    assert all(r.error is None and r.added == r.fetched > 0 for r in results), results
    for n in NAMES:
        want = [r for r in await clients[n].fetch_funding_history("ETH", since, until)]
        got = await repo.load(since, until + timedelta(milliseconds=1), exchanges=[n], symbols=["ETH"])
        assert got == want
    again = await run_downloads(clients, repo, await plan_downloads(repo, symbols, since, until))
    assert sum(r.added for r in again) == 0 and sum(r.fetched for r in again) == 0
    assert all(t.start > since for t in await plan_downloads(repo, symbols, since, until))


async def test_an_interrupted_download_resumes_to_the_same_rows(world, monkeypatch):
    cluster, clients, repo = world
    from perpdex.exchanges.aster import funding as aster_funding
    monkeypatch.setattr(aster_funding, "HISTORY_LIMIT", 5)  # several pages for one symbol
    since, until = _window(cluster)
    symbols = {"aster": ["XRP"]}
    with pytest.raises(Interrupt):
        await run_downloads(clients, repo, await plan_downloads(repo, symbols, since, until), StopAfterFirstPage())
    [partial] = await repo.coverage()
    assert partial.rows == 5
    [task] = await plan_downloads(repo, symbols, since, until)
    assert task.start == partial.last + timedelta(milliseconds=1)
    await run_downloads(clients, repo, [task])
    stored = await repo.load(since, until + timedelta(milliseconds=1))
    assert stored == await clients["aster"].fetch_funding_history("XRP", since, until)
    assert len(stored) == 48


async def test_an_unlisted_symbol_is_an_error_of_that_symbol_only(world):
    cluster, clients, repo = world
    since, until = _window(cluster)
    results = await run_downloads(clients, repo, await plan_downloads(repo, {"lighter": ["NOPE", "BTC"]}, since, until))
    assert results[0].symbol == "NOPE" and "not listed" in results[0].error and results[0].added == 0
    assert results[1].error is None and results[1].added == 48
    with pytest.raises(MarketNotFound):
        await clients["lighter"].fetch_funding_history("NOPE", since, until)


def test_default_symbols_are_those_listed_twice():
    listed = {"a": ["BTC", "ETH", "ONLY_A"], "b": ["BTC", "SOL"], "c": ["ETH", "SOL", "ONLY_C"]}
    assert default_symbols(listed) == {"a": ["BTC", "ETH"], "b": ["BTC", "SOL"], "c": ["ETH", "SOL"]}
    assert default_symbols({"a": ["X", "Y"]}) == {"a": ["X", "Y"]}


async def test_plan_rejects_an_empty_window(world):
    _, _, repo = world
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="before"):
        await plan_downloads(repo, {"aster": ["BTC"]}, now, now - timedelta(hours=1))
