"""Fixtures for the Paradex tests: the emulated venue (real loopback sockets) and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from perpdex.exchanges.base import ExchangeSettings
from perpdex.exchanges.paradex import ParadexClient
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.paradex import ParadexEmulator

FUNDING_TIME_SCALE = 14_400  # an 8 h funding period pays every 2 s



@pytest.fixture
async def paradex() -> AsyncIterator[dict[str, Any]]:
    """``{"cluster", "venue", "ep", "dialect"}`` for an emulated Paradex with the market running."""
    cluster = await start_emulators(["paradex"], dialects={"paradex": ParadexEmulator},
                                    funding_time_scale=FUNDING_TIME_SCALE)
    try:
        yield {"cluster": cluster, "venue": cluster.sim.venue("paradex"), "ep": cluster.endpoints["paradex"],
               "dialect": cluster.dialects["paradex"]}
    finally:
        await cluster.stop()


def settings(ep: dict[str, Any], **options: Any) -> ExchangeSettings:
    return ExchangeSettings("paradex", ep["rest_url"], ep["ws_url"], credentials=dict(ep["credentials"]),
                            options={"ccxt": ep["ccxt"], **options})


@pytest.fixture
async def client(paradex: dict[str, Any]) -> AsyncIterator[ParadexClient]:
    c = ParadexClient(settings(paradex["ep"]))
    try:
        await c.connect()
        yield c
    finally:
        await c.close()
