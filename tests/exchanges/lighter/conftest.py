"""Fixtures for the Lighter tests: the emulated venue and helpers (real loopback sockets)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.lighter import LighterClient, LighterMarketFeed


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``cond`` until it holds; fail the test (not on timing, on the state) if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} never became true")
        await asyncio.sleep(0.02)


@pytest.fixture
def lighter(emulators: Any) -> dict[str, Any]:
    """``{"cluster", "venue", "ep"}`` for the emulated Lighter venue."""
    return {"cluster": emulators, "venue": emulators.sim.venue("lighter"), "ep": emulators.endpoints["lighter"]}


@pytest.fixture
async def feed(lighter: dict[str, Any]) -> AsyncIterator[LighterMarketFeed]:
    f = LighterMarketFeed(lighter["ep"]["ws_url"], rest_url=lighter["ep"]["rest_url"])
    try:
        yield f
    finally:
        await f.close()


@pytest.fixture
async def client(lighter: dict[str, Any]) -> AsyncIterator[LighterClient]:
    ep = lighter["ep"]
    c = LighterClient(ExchangeSettings("lighter", ep["rest_url"], ep["ws_url"], credentials=dict(ep["credentials"]),
                                       options={"ccxt": {"rateLimit": 10}}))
    try:
        await c.connect()
        yield c
    finally:
        await c.close()
