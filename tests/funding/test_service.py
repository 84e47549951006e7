"""FundingRateService against the in-process emulator of every exchange (real sockets, real
adapters, real SQLite): rounds stored, a dead exchange does not stop the others, opportunities read
from storage with the history filter."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.funding.history import FundingHistory
from perpdex.funding.opportunities import find_opportunities
from perpdex.funding.service import FundingRateService
from perpdex.storage import Store
from perpdex.storage.models import FundingSnapshotRow

SYMBOLS = {"BTC", "ETH", "SOL", "AAVE", "INJ", "CRV", "2Z", "0G", "DOGE", "XRP"}


@pytest.fixture
def store_url(tmp_path):
    """SQLite only here (the repository's SQL runs on both backends in test_history)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp_path, exchanges=None, **service):
    names = registry.names()
    return parse_config({
        "sim": {"enabled": True, "funding_time_scale": 720},
        "exchanges": exchanges or {n: {} for n in names},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 's.db'}"},
        "service": {"interval_s": 0.5, "exchange_timeout_s": 0.5, "max_sample_age_s": 60, **service},
    })


async def rows(store: Store) -> list[FundingSnapshotRow]:
    from sqlalchemy import select

    async with store.sessions() as s:
        return list((await s.scalars(select(FundingSnapshotRow))).all())


async def test_one_round_stores_every_exchange_and_symbol(tmp_path, store):
    cfg = config(tmp_path, retention_hours=24)
    old = FundingSnapshotRow(exchange=registry.names()[0], symbol="BTC", rate=Decimal(0), interval_hours=Decimal(8),
                             rate_8h=Decimal(0), collected_at=datetime.now(UTC) - timedelta(hours=25))
    async with store.sessions() as s, s.begin():
        s.add(old)
    async with runtime(cfg) as rt:
        svc = FundingRateService(FundingHistory(store.sessions), rt.adapters, cfg.service, clients=rt.clients)
        result = await svc.run_round()
        live = rt.cluster.sim.venues  # type: ignore[union-attr]
        assert result.errors == {} and result.stored == 40
        stored = await rows(store)
        assert len(stored) == 40  # the 25 h old sample was pruned (retention 24 h)
        assert {(r.exchange, r.symbol) for r in stored} == {(n, s) for n in registry.names() for s in SYMBOLS}
        assert len({r.collected_at for r in stored}) == 1  # one round, one timestamp
        for r in stored:
            assert r.rate_8h == r.rate * 8 / r.interval_hours
            assert r.mark_price is not None and r.mark_price > 0
            assert r.volume_24h_usd is not None and r.volume_24h_usd > 0
            assert r.open_interest_usd is not None and r.open_interest_usd > 0
            assert r.exchange in live
        # fees were read from each emulated catalog
        assert set(svc.fees) == set(registry.names())
        health = svc.health()
        assert health["status"] == "ok" and all(e["samples_last_round"] == 10 for e in health["exchanges"])


async def test_dead_exchange_does_not_stop_the_others(tmp_path, store, caplog):
    names = registry.names()
    dead = names[-1]
    port = closed_port()
    exchanges = {n: {} for n in names}
    exchanges[dead] = {"rest_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}"}
    cfg = config(tmp_path, exchanges)
    caplog.set_level(logging.INFO, logger="perpdex")
    async with runtime(cfg) as rt:
        svc = FundingRateService(FundingHistory(store.sessions), rt.adapters, cfg.service, clients=rt.clients)
        await svc.start()
        while svc.rounds < 2:
            await asyncio.sleep(0.05)
        await svc.stop()
    assert not svc.running
    stored = await rows(store)
    assert {r.exchange for r in stored} == set(names) - {dead}
    assert len(stored) == 30 * svc.rounds
    h = svc.health()
    assert h["status"] == "degraded"
    by = {e["exchange"]: e for e in h["exchanges"]}
    assert not by[dead]["ok"] and by[dead]["errors"] == svc.rounds and by[dead]["last_success_at"] is None
    assert by[dead]["last_error"].startswith("NetworkError") and "Cannot connect" in by[dead]["last_error"]
    assert all(by[n]["ok"] and by[n]["errors"] == 0 for n in names if n != dead)
    assert dead not in svc.fees
    assert any(dead in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert any("funding round 1:" in r.getMessage() and "30 samples from 3/4" in r.getMessage() for r in caplog.records)

    # opportunities from storage leave the dead exchange out, and say why
    found = await svc.opportunities(hold_hours=Decimal(168))
    assert dead in found.skipped
    assert found.opportunities and all(dead not in o.key for o in found.opportunities)


async def test_stored_opportunities_match_live_ranking_and_history_filter(tmp_path, store):
    cfg = config(tmp_path)
    async with runtime(cfg) as rt:
        hist = FundingHistory(store.sessions)
        svc = FundingRateService(hist, rt.adapters, cfg.service, clients=rt.clients)
        await svc.run_round()
        snap = await hist.latest_snapshot()
    found = await svc.opportunities(hold_hours=Decimal(168))
    assert found.skipped == {}
    same = find_opportunities(snap, svc.fees, min_net_apr=Decimal(-10**9), hold_hours=Decimal(168))
    assert [o.key for o in found.opportunities] == [o.key for o in same]
    assert [o.net_apr for o in found.opportunities] == [o.net_apr for o in same]
    assert all(found.stats[o.key].samples == 1 for o in found.opportunities)
    # one round: nothing has persisted for an hour yet
    none = await svc.opportunities(hold_hours=Decimal(168), min_persistence_hours=1.0)
    assert none.opportunities == []
    zero = await svc.opportunities(hold_hours=Decimal(168), min_persistence_hours=0.0)
    assert [o.key for o in zero.opportunities] == [o.key for o in same]
    # one round: the mean spread is that round's spread, so the mean filter keeps gross APR >= 50 %
    half = await svc.opportunities(hold_hours=Decimal(168), min_mean_spread_apr=Decimal("0.5"))
    assert [o.key for o in half.opportunities] == [o.key for o in same if o.gross_apr >= Decimal("0.5")]
    assert 0 < len(half.opportunities) < len(same)
    # samples older than max_sample_age_s are ignored
    later = (await svc.opportunities(hold_hours=Decimal(168), now=found.as_of + timedelta(seconds=61)))
    assert later.opportunities == [] and set(later.skipped) == set(registry.names())


async def test_slow_exchange_is_bounded_by_the_exchange_timeout(tmp_path, store):
    cfg = config(tmp_path, interval_s=5, exchange_timeout_s=0.3)
    slow = registry.names()[1]
    async with runtime(cfg) as rt:
        rt.cluster.sim.venues[slow].faults.inject("delay", count=4)  # type: ignore[union-attr]  # each answer waits 1 s
        svc = FundingRateService(FundingHistory(store.sessions), rt.adapters, cfg.service, clients=rt.clients)
        result = await svc.run_round()
    assert set(result.errors) == {slow} and result.errors[slow].startswith("timed out after")
    assert result.stored == 30 and {r.exchange for r in await rows(store)} == set(registry.names()) - {slow}
    assert svc.exchanges[slow].consecutive_errors == 1 and svc.exchanges[slow].last_success_at is None


def test_service_config_errors_name_the_field():
    from perpdex.errors import ConfigError

    base = {"exchanges": {registry.names()[0]: {}}}
    for section, bad, field in [
        ("service", {"interval_s": 0}, "service.interval_s"),
        ("service", {"interval_s": 10, "exchange_timeout_s": 11}, "service.exchange_timeout_s"),
        ("service", {"interval_s": 60, "max_sample_age_s": 30}, "service.max_sample_age_s"),
        ("service", {"port": 70000}, "service.port"),
        ("service", {"retention_hours": 0}, "service.retention_hours"),
        ("service", {"intervl_s": 5}, "service.intervl_s"),
        ("strategy", {"history_hours": 6, "min_persistence_hours": 7}, "strategy.min_persistence_hours"),
        ("strategy", {"min_persistence_hours": -1}, "strategy.min_persistence_hours"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_config({**base, section: bad})
        assert err.value.field == field, (bad, str(err.value))
    # defaults: derived from the interval; the strategy's history filter is off
    cfg = parse_config({**base, "service": {"interval_s": 600}})
    assert (cfg.service.exchange_timeout_s, cfg.service.max_sample_age_s) == (20.0, 1800.0)
    assert parse_config({**base, "service": {"interval_s": 5}}).service.exchange_timeout_s == 5.0
    assert (cfg.strategy.min_persistence_hours, cfg.strategy.min_mean_spread_apr) == (None, None)
