"""Aster test fixtures: the emulated venue with its market process stopped (tests step it by
hand for deterministic book changes). Tests wait with ``tests.waiting.eventually``."""

from __future__ import annotations

import pytest

from perpdex.sim.server import start_emulators


@pytest.fixture
async def stepped():
    """Only the Aster venue, on loopback, with the market process NOT running: the book changes
    only when a test calls ``stepped.sim.step()``."""
    cluster = await start_emulators(["aster"], run_market=False)
    try:
        yield cluster
    finally:
        await cluster.stop()
