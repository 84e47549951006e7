"""Alembic environment of perpdex's storage (see ``perpdex.storage.migrate``).

perpdex hands Alembic an open connection (``config.attributes["connection"]``: ``Store.init``,
``perpdex db``); given only ``sqlalchemy.url`` (e.g. the ``alembic`` command with your own ini) it
opens an async engine (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from perpdex.storage.migrate import context_options


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **context_options(connection))
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("perpdex migrations run online only (Store.init, perpdex db upgrade)")
connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None  # no connection given: alembic_config() was given the url
    asyncio.run(run_on_url(url))
