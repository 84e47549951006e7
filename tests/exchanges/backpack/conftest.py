"""Backpack test fixtures: the emulated Backpack venue on real loopback sockets, a feed and a
client built directly from :class:`ExchangeSettings`, plus a polling helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from perpdex.exchanges.backpack import BackpackClient, BackpackMarketFeed
from perpdex.exchanges.base import ExchangeSettings
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.backpack import BackpackEmulator


async def start_backpack(**kwargs: Any):
    """Only the Backpack venue (the registry does not name it yet: the dialect is passed in)."""
    return await start_emulators(["backpack"], dialects={"backpack": BackpackEmulator}, **kwargs)


@pytest.fixture
async def bp() -> AsyncIterator[dict[str, Any]]:
    """``{"cluster", "venue", "ep", "dialect"}``; market stepping, funding 720x (1 h pays every 5 s)."""
    cluster = await start_backpack(funding_time_scale=720)
    try:
        yield {"cluster": cluster, "venue": cluster.sim.venue("backpack"), "ep": cluster.endpoints["backpack"],
               "dialect": cluster.dialects["backpack"]}
    finally:
        await cluster.stop()


@pytest.fixture
async def stepped() -> AsyncIterator[dict[str, Any]]:
    """Like ``bp`` but with the market process NOT running: books change only on ``sim.step()``."""
    cluster = await start_backpack(run_market=False)
    try:
        yield {"cluster": cluster, "venue": cluster.sim.venue("backpack"), "ep": cluster.endpoints["backpack"],
               "dialect": cluster.dialects["backpack"]}
    finally:
        await cluster.stop()


def settings(ep: dict[str, Any], **overrides: Any) -> ExchangeSettings:
    """Client settings from the emulator's endpoints: URLs, credentials and its ccxt options."""
    return ExchangeSettings("backpack", ep["rest_url"], ep["ws_url"], credentials=dict(ep["credentials"]),
                            options={"ccxt": ep["ccxt"]}, **overrides)


@pytest.fixture
async def client(bp: dict[str, Any]) -> AsyncIterator[BackpackClient]:
    c = BackpackClient(settings(bp["ep"]))
    try:
        await c.connect()
        yield c
    finally:
        await c.close()


def make_feed(env: dict[str, Any]) -> BackpackMarketFeed:
    return BackpackMarketFeed(env["ep"]["ws_url"], rest_url=env["ep"]["rest_url"])
