"""Fixtures for the Lighter tests: the emulated venue and helpers (real loopback sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.lighter import LighterClient, LighterMarketFeed


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
