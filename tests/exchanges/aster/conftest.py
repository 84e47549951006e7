"""Aster test fixtures: the emulated venue with its market process stopped (tests step it by
hand for deterministic book changes), plus a polling helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``pred`` until it holds (True) or ``timeout`` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.01)
    return True
