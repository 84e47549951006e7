"""Shared fixtures: emulated exchanges on real loopback sockets."""

from __future__ import annotations

import pytest

from perpdex.sim.server import start_emulators
from tests.postgres import postgres_cluster, store, store_url  # noqa: F401  (SQLite + PostgreSQL fixtures)


@pytest.fixture
async def emulators():
    """Every scenario venue running on 127.0.0.1 with the market process stepping; funding
    compressed 720x (a 1h interval pays every 5 s)."""
    cluster = await start_emulators(funding_time_scale=720)
    try:
        yield cluster
    finally:
        await cluster.stop()
