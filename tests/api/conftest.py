"""Fixtures of the API tests: the app over a real SQLite store, spoken to through httpx's ASGI
transport with the app's lifespan running."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from perpdex.api import create_app
from perpdex.config import AppConfig, parse_config
from perpdex.storage import Store


def make_config(tmp_path, exchanges: dict[str, Any], **sections: Any) -> AppConfig:
    return parse_config({"exchanges": exchanges, "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"},
                         **sections})


@contextlib.asynccontextmanager
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``app`` with its lifespan entered (startup before, shutdown after)."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perpdex.test") as c:
            yield c


@contextlib.asynccontextmanager
async def stored_api(cfg: AppConfig) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    """The app reading (not collecting) a store opened on ``cfg.storage.url``."""
    store = Store(cfg.storage.url)
    await store.init()
    try:
        async with api_client(create_app(cfg, store=store, collect=False)) as client:
            yield client, store
    finally:
        await store.close()
