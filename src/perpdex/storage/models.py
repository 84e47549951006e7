"""Tables. Decimals are stored as exact decimal strings (SQLite has no exact numeric type)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
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
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class PositionStatus(enum.StrEnum):
    """A pair's life: ``opening`` (row written before any order) -> ``open`` -> ``closing`` ->
    ``closed``; ``failed`` (an open that did not complete, flattened); ``naked`` (a leg left
    unhedged that perpdex could not flatten: needs a person); ``dust`` (closed but for a hedged
    remainder below an exchange's minimum order on both legs, swept when it can be). Stored as
    the string value."""

    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"
    NAKED = "naked"
    DUST = "dust"


class OrderRole(enum.StrEnum):
    """Why a strategy's single order exists: an ``entry``, the ``take_profit`` of an entry's fill,
    an ``exit`` at market (boost, stop loss, max age, a take-profit rejected too often) or a
    ``flatten`` (stop price, invariant repair), or a ``backstop``: the exchange-side stop-market
    that executed while resting (runtime/backstops.py), adopted so its fills are the strategy's."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"
    FLATTEN = "flatten"
    BACKSTOP = "backstop"


class PositionRow(Base):
    """One delta-neutral pair. ``status``: a :class:`PositionStatus` value; ``strategy`` the name
    of the strategy entry that opened it (each strategy sees only its own). Sizes base units,
    prices and money USD, ``entry_net_apr`` a fraction per year."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True, default="funding_arb",
                                          server_default=text("'funding_arb'"))
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


class OrderRow(Base):
    """One order a single-exchange strategy (the grid) sent through the runtime.

    ``client_order_id`` carries the strategy's tag (:mod:`perpdex.runtime.ids`), unique per
    exchange; ``order_id`` the exchange's id once known (None while the answer is pending or was
    lost); ``role`` an :class:`OrderRole`; ``status`` an :class:`~perpdex.models.OrderStatus`
    value (``pending`` before the exchange answered); sizes base units of the exchange's market,
    prices USD; ``parent_id`` the entry order a take-profit belongs to."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("exchange", "client_order_id", name="uq_order_client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    client_order_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    quantity: Mapped[Decimal] = mapped_column(DecimalString)
    filled: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal(0))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    post_only: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OrderFillRow(Base):
    """One execution of an :class:`OrderRow`, stored once per ``(exchange, trade_id)`` whichever
    source (user stream, REST poll, fill history) reported it first. ``quantity`` base units,
    ``price`` USD, ``fee`` USD (+ paid, - rebate), ``ts`` UTC."""

    __tablename__ = "order_fills"
    __table_args__ = (UniqueConstraint("exchange", "trade_id", name="uq_order_fill_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_row_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(DecimalString)
    price: Mapped[Decimal] = mapped_column(DecimalString)
    fee: Mapped[Decimal] = mapped_column(DecimalString)
    liquidity: Mapped[str] = mapped_column(String(8))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackstopRow(Base):
    """One backstop order (a reduce-only stop-market resting on a leg's own exchange, see
    :mod:`perpdex.runtime.backstops`), one row per placement: a move (new size or trigger) adds a
    row and marks the one it replaces ``replaced``.

    ``leg`` ``long`` | ``short`` (a pair's legs) or ``grid`` (a grid's whole position); ``side``
    the stop's side (sell for a long leg); ``client_order_id`` carries the strategy's tag and is
    written before the order is sent; ``order_id`` the exchange's id once known; ``quantity``
    base units of the exchange's market; ``trigger_price`` / ``liquidation_price`` USD per
    exchange unit (``liquidation_source``: ``exchange``, ``estimate``, ``stop_price`` or
    ``stop_loss``); ``state`` ``placing`` (sent, no answer yet) -> ``resting`` -> ``fired`` |
    ``cancelled`` | ``replaced``, or ``failed`` / ``none`` with ``reason`` (the exchange's
    refusal, or why no backstop could be computed)."""

    __tablename__ = "backstops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    leg: Mapped[str] = mapped_column(String(8))
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    client_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quantity: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal(0))
    trigger_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    trigger_by: Mapped[str | None] = mapped_column(String(8), nullable=True)
    liquidation_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    liquidation_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CooldownRow(Base):
    """A symbol a strategy does not (re)enter before ``until`` (UTC): after a close (re-entry
    cooldown) or a failed open. Kept across restarts."""

    __tablename__ = "cooldowns"
    __table_args__ = (UniqueConstraint("strategy", "account", "symbol", name="uq_cooldown"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64), default="")  # "" for a bot without --account
    symbol: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


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
    __table_args__ = (Index("ix_funding_snapshots_pair_time", "exchange", "symbol", "collected_at"),
                      Index("ix_funding_snapshots_symbol_time", "symbol", "collected_at"))

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


class SettledFundingRow(Base):
    """One settled funding rate from an exchange's public funding history (``perpdex history fetch``).

    One row per (exchange, symbol, settlement time): ``funding_time`` the settlement instant (UTC);
    ``rate`` fraction per the exchange's funding interval of ``interval_hours`` hours (positive: longs
    pay shorts); ``rate_8h`` the same scaled to 8 hours; ``mark_price`` quote units (USD) where the
    endpoint reports one with the rate, else None; ``source`` the endpoint the row came from (e.g.
    ``GET /fapi/v3/fundingRate``); ``fetched_at`` when perpdex downloaded it (UTC)."""

    __tablename__ = "funding_history"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "funding_time", name="uq_funding_history_once"),
                      Index("ix_funding_history_time", "funding_time"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    funding_time: Mapped[datetime] = mapped_column(UTCDateTime)
    rate: Mapped[Decimal] = mapped_column(DecimalString)
    interval_hours: Mapped[Decimal] = mapped_column(DecimalString)
    rate_8h: Mapped[Decimal] = mapped_column(DecimalString)
    mark_price: Mapped[Decimal | None] = mapped_column(DecimalString, nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
