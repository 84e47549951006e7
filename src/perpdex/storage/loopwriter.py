"""Short SQLite write transactions run on the event loop's own thread (the runtime's hot path).

Through ``aiosqlite`` every statement is a hop to its worker thread and back, and the ORM adds
its unit of work: storing one fill with its order's new state costs about 2-3 ms, and a grid's
take-profit waits for two such commits (the fill, then the take-profit's row, each stored before
the next step may act on it). A small transaction in SQLite itself takes some 50-100 us in WAL
mode with ``synchronous=NORMAL``, so :class:`LoopWriter` runs the few writes on that path with
the standard library's :mod:`sqlite3` directly, blocking the loop for that long.

SQLAlchemy still writes the SQL and converts the values: statements are compiled from the tables
(:mod:`perpdex.storage.models`) for the SQLite dialect, and every value passes through its column
type's own bind / result processor, so a row written here reads back through the ORM exactly as
one written by it (exact decimal strings, naive UTC datetimes, JSON).

Locking: the writer takes the write lock up front (``BEGIN IMMEDIATE``) with a zero busy
timeout, and never holds it across an ``await``. When another connection holds the lock (an ORM
transaction of this process in the middle of an ``await``, or another process), the call returns
:data:`BUSY` at once and the caller takes its ordinary asynchronous path, which waits for the lock
without blocking the loop. Durability is the same as the ORM path: the same file, WAL,
``synchronous=NORMAL`` (a commit survives a process crash, ``kill -9`` included).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

T = TypeVar("T")


class _Busy:
    def __repr__(self) -> str:
        return "BUSY"


BUSY: Any = _Busy()
"""Returned by :meth:`LoopWriter.transaction` when the database is locked by another connection."""

_DIALECT = SQLiteDialect_pysqlite(paramstyle="qmark")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class _TableCodec:
    """Compiled statements and the column types' processors of one table, for the SQLite dialect."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.bind = {c.key: c.type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for c in table.columns}
        self.result = [(c.key, c.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)) for c in table.columns]
        self.select_sql = str(select(table).where(table.c.id == bindparam("row_id")).compile(dialect=_DIALECT))
        self._insert_sql: dict[tuple[str, ...], str] = {}
        self._update_sql: dict[tuple[str, ...], str] = {}

    def _param(self, key: str, value: Any) -> Any:
        proc = self.bind[key]
        return proc(value) if proc is not None else value

    def with_defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` plus the Python-side defaults (scalar or callable) of the columns it leaves out."""
        out = dict(values)
        for c in self.table.columns:
            if c.key not in out and not c.primary_key and c.default is not None:
                d = c.default
                out[c.key] = d.arg(None) if d.is_callable else d.arg  # type: ignore[attr-defined]  # .arg is on ScalarElementColumnDefault/CallableColumnDefault, not on the base
        return out

    def insert(self, conn: sqlite3.Connection, values: dict[str, Any]) -> int:
        keys = tuple(values)
        sql = self._insert_sql.get(keys)
        if sql is None:
            cols = ", ".join(keys)
            sql = self._insert_sql[keys] = f"INSERT INTO {self.table.name} ({cols}) VALUES ({', '.join('?' * len(keys))})"
        cur = conn.execute(sql, [self._param(k, v) for k, v in values.items()])
        return int(cur.lastrowid)  # type: ignore[arg-type]  # set after an INSERT

    def update(self, conn: sqlite3.Connection, row_id: int, values: dict[str, Any]) -> int:
        keys = tuple(values)
        sql = self._update_sql.get(keys)
        if sql is None:
            sets = ", ".join(f"{k} = ?" for k in keys)
            sql = self._update_sql[keys] = f"UPDATE {self.table.name} SET {sets} WHERE id = ?"
        cur = conn.execute(sql, [*(self._param(k, v) for k, v in values.items()), row_id])
        return cur.rowcount

    def get(self, conn: sqlite3.Connection, row_id: int) -> dict[str, Any] | None:
        raw = conn.execute(self.select_sql, (row_id,)).fetchone()
        if raw is None:
            return None
        return {k: (proc(v) if proc is not None else v) for (k, proc), v in zip(self.result, raw)}


class LoopWriter:
    """Write transactions on the calling thread over one :mod:`sqlite3` connection to ``path`` (a
    database file already migrated by :class:`~perpdex.storage.Store`). Not for ``:memory:``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._codecs: dict[str, _TableCodec] = {}

    def codec(self, table: Table) -> _TableCodec:
        c = self._codecs.get(table.name)
        if c is None:
            c = self._codecs[table.name] = _TableCodec(table)
        return c

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in one write transaction and commit; :data:`BUSY` (nothing done) when
        another connection holds the write lock. An exception from ``work`` rolls back and is raised."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                return BUSY
            raise
        try:
            out = work(conn)
            conn.execute("COMMIT")
            return out
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            if _busy(exc):
                return BUSY
            raise
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
