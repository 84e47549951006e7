"""The store: async SQLAlchemy over SQLite (default, embedded) or PostgreSQL, schema by Alembic."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from decimal import Decimal
from types import EllipsisType
from typing import Any, cast

from sqlalchemy import Table, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ..files import private_file
from . import migrate
from .loopwriter import BUSY, LoopWriter
from .models import (
    BackstopRow,
    CooldownRow,
    FillRow,
    FundingRow,
    OrderFillRow,
    OrderRole,
    OrderRow,
    PositionRow,
    PositionStatus,
    utcnow,
)

__all__ = ["Store", "BackstopRow", "PositionRow", "FillRow", "FundingRow", "OrderRow", "OrderFillRow", "CooldownRow", "PositionStatus",
           "OrderRole"]


class Store:
    """``url`` a SQLAlchemy async URL: ``sqlite+aiosqlite:///perpdex.db`` (a file beside the bot) or
    ``postgresql+asyncpg://user:password@host:5432/perpdex``. Call :meth:`init` once before use
    (or :func:`open_store`). A PostgreSQL server that does not answer fails a connection after
    ``connect_timeout_s`` seconds.
    On SQLite, foreign keys are enforced (as on PostgreSQL: deleting an account deletes its
    credentials)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, connect_args=_connect_args(url, connect_timeout_s))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_enforce_foreign_keys)
        self._session = async_sessionmaker(self.engine, expire_on_commit=False)
        # the runtime's hot writes (orders, order fills) on the loop thread: SQLite files only
        db = self.engine.url.database
        self._fast: LoopWriter | None = None
        self._file: str | None = None  # the SQLite file, created 0600 by init()
        if self.engine.dialect.name == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
            self._fast = LoopWriter(db)
            self._file = db

    @property
    def sessions(self) -> async_sessionmaker:
        """The async session factory (``async with store.sessions() as s, s.begin(): ...``), for
        repositories that live beside their own feature (accounts, funding history)."""
        return self._session

    async def init(self) -> None:
        """Migrate the database to this version's schema (Alembic, to head): creates it when
        empty, adopts one made by an earlier perpdex, waits for another bot migrating it at the
        same time. Raises :class:`~perpdex.storage.migrate.StorageError` if it cannot. A SQLite
        file is created (or tightened) to mode 0600 first: its journal files take its mode."""
        if self._file is not None:
            private_file(self._file)
        async with self.engine.connect() as conn:
            await conn.run_sync(migrate.upgrade)

    async def revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrate.current_revision)

    async def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        await self.engine.dispose()

    # -- positions -------------------------------------------------------------------------------
    async def create_position(self, **fields: Any) -> PositionRow:
        async with self._session() as s, s.begin():
            row = PositionRow(**fields)
            s.add(row)
        return row

    async def update_position(self, position_id: int, **fields: Any) -> PositionRow:
        async with self._session() as s, s.begin():
            row = await s.get(PositionRow, position_id)
            if row is None:
                raise KeyError(f"position {position_id} not found")
            for k, v in fields.items():
                setattr(row, k, v)
        return row

    async def position(self, position_id: int) -> PositionRow | None:
        async with self._session() as s:
            return await s.get(PositionRow, position_id)

    async def positions(self, statuses: list[str] | None = None, account: str | None | EllipsisType = ...,
                        strategy: str | None = None) -> list[PositionRow]:
        """Positions by id; ``account``: only that account's (None: those without one), all when
        omitted; ``strategy``: only that strategy's (all when None)."""
        async with self._session() as s:
            q = select(PositionRow).order_by(PositionRow.id)
            if statuses:
                q = q.where(PositionRow.status.in_([str(x) for x in statuses]))
            if account is not ...:
                q = q.where(PositionRow.account == account)  # == None renders IS NULL
            if strategy is not None:
                q = q.where(PositionRow.strategy == strategy)
            return list((await s.scalars(q)).all())

    # -- fills -----------------------------------------------------------------------------------
    async def add_fill(self, position_id: int, phase: str, *, exchange: str, symbol: str, side: str,
                       quantity: Decimal, price: Decimal, fee: Decimal, liquidity: str,
                       order_id: str | None, ts: datetime | None = None) -> FillRow:
        async with self._session() as s, s.begin():
            row = FillRow(position_id=position_id, phase=phase, exchange=exchange, symbol=symbol, side=side,
                          quantity=quantity, price=price, fee=fee, liquidity=liquidity, order_id=order_id,
                          ts=ts or utcnow())
            s.add(row)
        return row

    async def order_quantities(self, exchange: str, symbol: str) -> dict[str, Decimal]:
        """Stored filled quantity per order id (base units of the exchange's market) of every
        position's fills on ``exchange`` in ``symbol``; fills without an order id are left out."""
        async with self._session() as s:
            q = select(FillRow.order_id, FillRow.quantity).where(
                FillRow.exchange == exchange, FillRow.symbol == symbol, FillRow.order_id.is_not(None))
            out: dict[str, Decimal] = {}
            for oid, qty in (await s.execute(q)).all():
                assert oid is not None  # the query leaves out fills without an order id
                out[oid] = out.get(oid, Decimal(0)) + qty
            return out

    async def fills(self, position_id: int) -> list[FillRow]:
        async with self._session() as s:
            q = select(FillRow).where(FillRow.position_id == position_id).order_by(FillRow.id)
            return list((await s.scalars(q)).all())

    # -- funding ---------------------------------------------------------------------------------
    async def add_funding(self, position_id: int, *, exchange: str, symbol: str, amount: Decimal,
                          rate: Decimal | None, ts: datetime, payment_key: str | None = None) -> bool:
        """Record a payment; False if this (position, exchange, payment_key) was already recorded.
        ``payment_key`` defaults to ``ts`` in ISO form (for exchanges that give no payment id)."""
        try:
            async with self._session() as s, s.begin():
                s.add(FundingRow(position_id=position_id, exchange=exchange, symbol=symbol, amount=amount,
                                 rate=rate, ts=ts, payment_key=payment_key or ts.isoformat()))
            return True
        except IntegrityError:
            return False

    async def funding(self, position_id: int) -> list[FundingRow]:
        async with self._session() as s:
            q = select(FundingRow).where(FundingRow.position_id == position_id).order_by(FundingRow.ts)
            return list((await s.scalars(q)).all())


    # -- cooldowns ---------------------------------------------------------------------------------
    async def set_cooldown(self, strategy: str, symbol: str, until: datetime, *, account: str | None = None,
                           reason: str | None = None) -> None:
        """Skip ``symbol`` for ``strategy`` (and ``account``) until ``until`` (UTC); a later call
        replaces the time (the longer of the two is kept)."""
        acct = account or ""
        async with self._session() as s, s.begin():
            row = await s.scalar(select(CooldownRow).where(CooldownRow.strategy == strategy, CooldownRow.account == acct,
                                                           CooldownRow.symbol == symbol))
            if row is None:
                s.add(CooldownRow(strategy=strategy, account=acct, symbol=symbol, until=until, reason=reason))
            elif until > row.until:
                row.until, row.reason = until, reason

    async def cooldowns(self, strategy: str, *, account: str | None = None,
                        now: datetime | None = None) -> dict[str, datetime]:
        """symbol -> until (UTC) of the cooldowns of ``strategy`` (and ``account``) still running at ``now``."""
        now = now or utcnow()
        async with self._session() as s:
            q = select(CooldownRow).where(CooldownRow.strategy == strategy, CooldownRow.account == (account or ""),
                                          CooldownRow.until > now)
            return {r.symbol: r.until for r in (await s.scalars(q)).all()}

    # -- single orders (grid) ------------------------------------------------------------------------
    async def add_order(self, **fields: Any) -> OrderRow:
        """Record an order BEFORE it is sent (status ``pending``): a crash then leaves its client id."""
        if self._fast is not None:
            codec = self._fast.codec(cast(Table, OrderRow.__table__))
            values = codec.with_defaults(fields)
            row_id = self._fast.transaction(lambda conn: codec.insert(conn, values))
            if row_id is not BUSY:
                return OrderRow(id=row_id, **values)
        async with self._session() as s, s.begin():
            row = OrderRow(**fields)
            s.add(row)
        return row

    async def update_order(self, row_id: int, **fields: Any) -> OrderRow:
        """Apply ``fields`` to order row ``row_id`` (``updated_at`` set now); the row as stored.
        Raises KeyError when there is no such row."""
        if self._fast is not None:
            codec = self._fast.codec(cast(Table, OrderRow.__table__))

            def work(conn: Any) -> dict[str, Any]:
                if not codec.update(conn, row_id, {**fields, "updated_at": utcnow()}):
                    raise KeyError(f"order row {row_id} not found")
                return codec.get(conn, row_id)  # type: ignore[return-value]  # the row was just updated

            stored = self._fast.transaction(work)
            if stored is not BUSY:
                return OrderRow(**stored)
        async with self._session() as s, s.begin():
            row = await s.get(OrderRow, row_id)
            if row is None:
                raise KeyError(f"order row {row_id} not found")
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
        return row

    async def orders(self, strategy: str, *, statuses: list[str] | None = None, role: str | None = None,
                     account: str | None | EllipsisType = ...) -> list[OrderRow]:
        """``strategy``'s orders by id, optionally only those in ``statuses`` / of ``role``."""
        async with self._session() as s:
            q = select(OrderRow).where(OrderRow.strategy == strategy).order_by(OrderRow.id)
            if statuses:
                q = q.where(OrderRow.status.in_([str(x) for x in statuses]))
            if role is not None:
                q = q.where(OrderRow.role == str(role))
            if account is not ...:
                q = q.where(OrderRow.account == account)
            return list((await s.scalars(q)).all())

    async def add_order_fill(self, order_row_id: int, *, strategy: str, exchange: str, symbol: str, order_id: str,
                             trade_id: str, side: str, quantity: Decimal, price: Decimal, fee: Decimal,
                             liquidity: str, ts: datetime, order_fields: dict[str, Any] | None = None
                             ) -> OrderFillRow | None:
        """Store one execution of an order and apply ``order_fields`` to the order's row (its new
        filled quantity, status...), in one transaction; None when this ``(exchange, trade_id)``
        is already stored (nothing changed then)."""
        values = dict(order_row_id=order_row_id, strategy=strategy, exchange=exchange, symbol=symbol,
                      order_id=order_id, trade_id=trade_id, side=side, quantity=quantity, price=price, fee=fee,
                      liquidity=liquidity, ts=ts)
        if self._fast is not None:
            fills, orders = self._fast.codec(cast(Table, OrderFillRow.__table__)), self._fast.codec(cast(Table, OrderRow.__table__))

            def work(conn: Any) -> int:
                fill_id = fills.insert(conn, values)
                if order_fields and not orders.update(conn, order_row_id, {**order_fields, "updated_at": utcnow()}):
                    raise KeyError(f"order row {order_row_id} not found")
                return fill_id

            try:
                fill_id = self._fast.transaction(work)
            except sqlite3.IntegrityError:
                return None
            if fill_id is not BUSY:
                return OrderFillRow(id=fill_id, **values)
        fill = OrderFillRow(**values)
        try:
            async with self._session() as s, s.begin():
                s.add(fill)
                if order_fields:
                    row = await s.get(OrderRow, order_row_id)
                    if row is None:
                        raise KeyError(f"order row {order_row_id} not found")
                    for k, v in order_fields.items():
                        setattr(row, k, v)
                    row.updated_at = utcnow()
            return fill
        except IntegrityError:
            return None

    async def order_fills(self, strategy: str, *, order_row_id: int | None = None, after_id: int = 0
                          ) -> list[OrderFillRow]:
        """``strategy``'s stored fills in the order they were stored (by id), optionally only those
        of one order row and / or only those stored after fill id ``after_id``."""
        async with self._session() as s:
            q = select(OrderFillRow).where(OrderFillRow.strategy == strategy, OrderFillRow.id > after_id).order_by(
                OrderFillRow.id)
            if order_row_id is not None:
                q = q.where(OrderFillRow.order_row_id == order_row_id)
            return list((await s.scalars(q)).all())


    # -- backstops ---------------------------------------------------------------------------------
    async def add_backstop(self, **fields: Any) -> BackstopRow:
        """Record a backstop (before it is sent: ``state`` ``placing``); the row as stored."""
        async with self._session() as s, s.begin():
            row = BackstopRow(**fields)
            s.add(row)
        return row

    async def update_backstop(self, row_id: int, **fields: Any) -> BackstopRow:
        """Apply ``fields`` to backstop row ``row_id`` (``updated_at`` set now). Raises KeyError
        when there is no such row."""
        async with self._session() as s, s.begin():
            row = await s.get(BackstopRow, row_id)
            if row is None:
                raise KeyError(f"backstop row {row_id} not found")
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
        return row

    async def backstops(self, *, position_id: int | None = None, states: list[str] | None = None,
                        strategy: str | None = None) -> list[BackstopRow]:
        """Backstop rows by id (oldest first), optionally only those of one position, in
        ``states``, of ``strategy``."""
        async with self._session() as s:
            q = select(BackstopRow).order_by(BackstopRow.id)
            if position_id is not None:
                q = q.where(BackstopRow.position_id == position_id)
            if states:
                q = q.where(BackstopRow.state.in_(states))
            if strategy is not None:
                q = q.where(BackstopRow.strategy == strategy)
            return list((await s.scalars(q)).all())


def _sqlite_enforce_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    """Every SQLite connection: foreign keys enforced; write-ahead log with ``synchronous=NORMAL``
    (a commit is durable across a process crash, kill -9 included, without an fsync per commit:
    a fill is stored in well under a millisecond instead of a disk flush); readers never block
    the writer; a busy writer is waited for up to 5 s instead of failing at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    _set_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _set_wal(cursor: Any, within_s: float = 5.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while the database is locked: switching a fresh file
    to WAL needs it alone, and SQLite may answer "database is locked" at once (without waiting the
    busy timeout) when several processes or stores open a new database at the same moment. Once
    set, WAL is kept in the file and later connections find it set. Raises the driver's
    ``OperationalError`` once ``within_s`` seconds have passed (start-up only, so the short waits
    do not matter)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connect_args(url: str, timeout_s: float) -> dict[str, Any]:
    """The driver's connect timeout (asyncpg: ``timeout`` seconds; its default is 60 s)."""
    driver = url.split("://", 1)[0]
    return {"timeout": timeout_s} if driver.endswith("+asyncpg") else {}


def storage_failure(url: str, exc: BaseException) -> str:
    """One line saying why the store at ``url`` cannot be opened, from the driver's error (never
    the URL's password: the driver's messages do not carry it)."""
    import asyncio

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "the database server did not answer in time"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = reason[0] if reason else type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


def _sqlite_path_problem(url: str) -> str | None:
    """Why the SQLite file of ``url`` cannot be created or written (None: looks fine, or not a
    SQLite file URL)."""
    import os
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL: the engine says why
        return None
    db = u.database
    if u.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    path = Path(db).expanduser()
    if path.exists():
        if path.is_dir():
            return f"{path} is a directory"
        return None if os.access(path, os.R_OK | os.W_OK) else f"{path} is not writable"
    parent = path.parent
    if not parent.is_dir():
        return f"directory {parent} does not exist"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"directory {parent} is not writable"


async def open_store(url: str, *, connect_timeout_s: float = 10.0, init_timeout_s: float = 120.0) -> Store:
    """A migrated :class:`Store` at ``url`` (:meth:`Store.init`), or one
    :class:`~perpdex.errors.ConfigError` naming ``storage.url`` and the cause (an unknown URL
    scheme, a refusing or unreachable PostgreSQL, a server that accepts and never answers, an
    unwritable SQLite path), raised within about ``connect_timeout_s`` seconds for a server that
    does not answer (``init_timeout_s`` bounds the whole migration)."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from ..errors import ConfigError, PerpdexError

    problem = _sqlite_path_problem(url)
    if problem is not None:  # before the driver's worker thread, which outlives a failed connect
        raise ConfigError("storage.url", f"cannot open the store: unable to open database file ({problem})")
    try:
        store = Store(url, connect_timeout_s=connect_timeout_s)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise ConfigError("storage.url", f"cannot open the store: {storage_failure(url, exc)}") from None
    try:
        await asyncio.wait_for(store.init(), init_timeout_s)
    except (TimeoutError, SQLAlchemyError, OSError, PerpdexError) as exc:
        await store.close()
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("storage.url", f"cannot open the store: {storage_failure(url, exc)}") from None
    return store
