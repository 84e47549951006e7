"""Tables. Decimals are stored as exact decimal strings (SQLite has no exact numeric type)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class DecimalString(TypeDecorator[Decimal]):
    """``Decimal`` stored as its exact string form."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class PositionRow(Base):
    """One delta-neutral pair. ``status``: opening | open | closing | closed | failed.
    Sizes base units, prices and money USD, ``entry_net_apr`` a fraction per year."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    long_exchange: Mapped[str] = mapped_column(String(32))
    short_exchange: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    quantity: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal(0))
    leverage: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal(1))
    entry_net_apr: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    entry_long_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    entry_short_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    exit_long_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    exit_short_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FillRow(Base):
    """One execution. ``phase``: open | close | rollback; ``side`` buy|sell; fee USD."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id"), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(DecimalString)
    price: Mapped[Decimal] = mapped_column(DecimalString)
    fee: Mapped[Decimal] = mapped_column(DecimalString)
    liquidity: Mapped[str] = mapped_column(String(8))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FundingRow(Base):
    """One funding payment on one leg: ``amount`` USD, + received / - paid; ``rate`` fraction per
    the exchange's interval. Unique per (position, exchange, payment_key) — the exchange's payment
    id, else its time — so a payment seen twice counts once."""

    __tablename__ = "funding_payments"
    __table_args__ = (UniqueConstraint("position_id", "exchange", "payment_key", name="uq_funding_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id"), index=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(DecimalString)
    rate: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_key: Mapped[str] = mapped_column(String(64))


class FundingSnapshotRow(Base):
    """One collected funding observation (the funding-rate service's history).

    ``rate`` fraction per the exchange's funding interval of ``interval_hours`` hours (positive:
    longs pay shorts); ``rate_8h`` the same normalized to 8 hours; ``mark_price`` quote units;
    ``volume_24h_usd`` / ``open_interest_usd`` USD; ``collected_at`` when perpdex read it (UTC)."""

    __tablename__ = "funding_snapshots"
    __table_args__ = (Index("ix_funding_snapshots_pair_time", "exchange", "symbol", "collected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rate: Mapped[Decimal] = mapped_column(DecimalString)
    interval_hours: Mapped[Decimal] = mapped_column(DecimalString)
    rate_8h: Mapped[Decimal] = mapped_column(DecimalString)
    mark_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    volume_24h_usd: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    open_interest_usd: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    next_funding_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccountRow(Base):
    """A named trading account (one bot per account)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CredentialRow(Base):
    """One exchange's credentials of one account, encrypted at rest: ``ciphertext`` is the
    encrypted JSON object of credential fields; ``key_id`` names the master key that sealed it
    (so ``rotate-key`` can re-encrypt). Plaintext is never stored."""

    __tablename__ = "account_credentials"
    __table_args__ = (UniqueConstraint("account_id", "exchange", name="uq_account_exchange"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    exchange: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
