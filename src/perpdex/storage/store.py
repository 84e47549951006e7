"""The store: async SQLAlchemy over SQLite (default, embedded) or PostgreSQL, schema by Alembic."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import EllipsisType
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from . import migrate
from .models import FillRow, FundingRow, PositionRow, utcnow

__all__ = ["Store", "PositionRow", "FillRow", "FundingRow"]


class Store:
    """``url`` a SQLAlchemy async URL: ``sqlite+aiosqlite:///perpdex.db`` (a file beside the bot) or
    ``postgresql+asyncpg://user:password@host:5432/perpdex``. Call :meth:`init` once before use.
    On SQLite, foreign keys are enforced (as on PostgreSQL: deleting an account deletes its
    credentials)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_enforce_foreign_keys)
        self._session = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def sessions(self) -> async_sessionmaker:
        """The async session factory (``async with store.sessions() as s, s.begin(): ...``), for
        repositories that live beside their own feature (accounts, funding history)."""
        return self._session

    async def init(self) -> None:
        """Migrate the database to this version's schema (Alembic, to head): creates it when
        empty, adopts one made by an earlier perpdex, waits for another bot migrating it at the
        same time. Raises :class:`~perpdex.storage.migrate.StorageError` if it cannot."""
        async with self.engine.connect() as conn:
            await conn.run_sync(migrate.upgrade)

    async def revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrate.current_revision)

    async def close(self) -> None:
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

    async def get_position(self, position_id: int) -> PositionRow | None:
        async with self._session() as s:
            return await s.get(PositionRow, position_id)

    async def positions(self, statuses: list[str] | None = None, account: str | None | EllipsisType = ...) -> list[PositionRow]:
        """Positions by id; ``account``: only that account's (None: those without one), all when omitted."""
        async with self._session() as s:
            q = select(PositionRow).order_by(PositionRow.id)
            if statuses:
                q = q.where(PositionRow.status.in_(statuses))
            if account is not ...:
                q = q.where(PositionRow.account == account)  # == None renders IS NULL
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


def _sqlite_enforce_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
