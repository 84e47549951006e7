"""Shared fixtures: emulated exchanges on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

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


@contextlib.contextmanager
def emulators_in_thread(**kw: Any) -> Iterator[Any]:
    """:func:`start_emulators` (same keywords) on an event loop of its own thread, so sync tests
    (the CLI through typer's runner) and async tests alike talk to it over loopback sockets."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulators", daemon=True)
    thread.start()
    cluster = asyncio.run_coroutine_threadsafe(start_emulators(**kw), loop).result(120)
    try:
        yield cluster
    finally:
        asyncio.run_coroutine_threadsafe(cluster.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def large_cluster():
    """The bundled ``large`` scenario (hundreds of perps per exchange) on loopback, once per test
    module; funding at real time, so every rate is still the scenario's (held 24 simulated hours)."""
    with emulators_in_thread(scenario="large") as cluster:
        yield cluster
