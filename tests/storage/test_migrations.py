"""Alembic migrations on SQLite and PostgreSQL: from empty, agreement with the models, adoption of
databases made by ``create_all``, concurrent starts, down and up, the plain ``alembic`` path."""

import asyncio
import sqlite3
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from perpdex.storage import StorageError, Store
from perpdex.storage.migrate import alembic_config, context_options, head_revision
from perpdex.storage.models import Base

NEW_IN_ISSUE_6 = ("account_credentials", "accounts", "funding_snapshots")


def _diff(connection):
    return compare_metadata(MigrationContext.configure(connection, opts=context_options(connection)), Base.metadata)


def _tables(connection):
    return set(inspect(connection).get_table_names())


async def _sync(url, fn):
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_creates_every_table_and_agrees_with_the_models(store_url):
    st = Store(store_url)
    assert await st.revision() is None
    await st.init()
    assert await st.revision() == head_revision() == "0005"
    await st.init()  # a second start is a no-op
    await st.close()
    assert await _sync(store_url, _tables) == set(Base.metadata.tables) | {"alembic_version"}
    # autogenerate finds nothing to do: the migrations build exactly what models.py declares
    assert await _sync(store_url, _diff) == []


async def test_agreement_check_sees_a_model_the_migrations_lack(store_url):
    """The comparison the test above relies on does detect differences."""
    await _sync(store_url, lambda c: Base.metadata.create_all(c, tables=[Base.metadata.tables["accounts"]]))
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in await _sync(store_url, _diff)}
    assert kinds == {"add_table", "add_index"}


async def test_adopts_a_database_made_by_create_all(store_url):
    await _sync(store_url, Base.metadata.create_all)
    await _sync(store_url, lambda c: c.execute(text(
        "INSERT INTO positions (symbol, long_exchange, short_exchange, status, quantity, leverage, opened_at, detail)"
        " VALUES ('BTC', 'a', 'b', 'open', '0.015', '2', '2026-11-22 12:00:00', '{}')")))
    st = Store(store_url)
    assert await st.revision() is None
    await st.init()
    assert await st.revision() == head_revision()
    [p] = await st.positions(["open"])
    assert p.quantity == Decimal("0.015")
    await st.close()
    assert await _sync(store_url, _diff) == []


async def test_adopts_an_older_database_adding_what_it_lacks(store_url):
    """A database from before issue 6: no accounts, credentials or funding history, positions
    without ``account``; its rows survive and it ends up exactly at head."""
    def make_old(conn):
        Base.metadata.create_all(conn)
        for name in NEW_IN_ISSUE_6:
            conn.execute(text(f"DROP TABLE {name}"))
        conn.execute(text("DROP INDEX ix_positions_account"))
        conn.execute(text("ALTER TABLE positions DROP COLUMN account"))
        conn.execute(text("INSERT INTO positions (symbol, long_exchange, short_exchange, status, quantity, leverage,"
                          " opened_at, detail) VALUES ('ETH', 'a', 'b', 'open', '1.5', '3', '2026-11-22 12:00:00', '{}')"))

    await _sync(store_url, make_old)
    st = Store(store_url)
    await st.init()
    [p] = await st.positions(["open"])
    assert p.quantity == Decimal("1.5") and p.account is None
    await st.update_position(p.id, account="main")
    assert (await st.position(p.id)).account == "main"
    assert await st.revision() == head_revision()
    await st.close()
    assert await _sync(store_url, _diff) == []


async def test_refuses_to_adopt_a_foreign_schema_and_changes_nothing(store_url):
    await _sync(store_url, lambda c: c.execute(text("CREATE TABLE positions (id INTEGER PRIMARY KEY, symbol INTEGER)")))
    st = Store(store_url)
    with pytest.raises(StorageError) as err:
        await st.init()
    msg = str(err.value)
    assert "positions" in msg and "alembic_version" in msg and "storage.url" in msg
    assert "long_exchange" in msg  # names what differs (a missing NOT NULL column)
    assert await st.revision() is None
    await st.close()
    assert await _sync(store_url, _tables) == {"positions"}


async def test_concurrent_starts_on_one_database_migrate_once(store_url):
    stores = [Store(store_url) for _ in range(4)]
    await asyncio.gather(*(s.init() for s in stores))
    assert {await s.revision() for s in stores} == {head_revision()}
    p = await stores[0].create_position(symbol="BTC", long_exchange="a", short_exchange="b", status="open")
    assert [r.id for r in await stores[3].positions()] == [p.id]
    for s in stores:
        await s.close()


async def test_downgrade_to_empty_and_up_again(store_url):
    await Store(store_url).init()

    def down(conn):
        command.downgrade(alembic_config(conn), "base")

    await _sync(store_url, down)
    assert await _sync(store_url, _tables) == {"alembic_version"}
    st = Store(store_url)
    await st.init()
    assert await st.revision() == head_revision()
    await st.close()


def test_plain_alembic_on_a_url_uses_an_async_engine(store_url):
    """The ``alembic`` command path (no connection handed over): env.py opens the async engine."""
    command.upgrade(alembic_config(url=store_url), "head")
    assert asyncio.run(Store(store_url).revision()) == head_revision()


class _LockedCursor:
    """A DB-API cursor whose first ``locked`` journal-mode switches answer "database is locked"."""

    def __init__(self, locked: int) -> None:
        self.locked, self.calls = locked, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.locked:
            raise sqlite3.OperationalError("database is locked")


def test_switching_to_wal_is_retried_while_the_new_database_is_locked():
    from perpdex.storage.store import _set_wal

    cur = _LockedCursor(locked=3)
    _set_wal(cur)
    assert cur.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _set_wal(_LockedCursor(locked=10**6), within_s=0.2)
