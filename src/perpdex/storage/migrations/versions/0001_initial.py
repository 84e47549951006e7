"""Initial schema: positions, fills, funding payments; funding-rate history; accounts and their
encrypted credentials.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Decimals are exact decimal strings (VARCHAR(64)), times naive UTC (``UTCDateTime``), both
spelled here as their SQL types so this script never changes with ``models.py``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DECIMAL = sa.String(length=64)
OPTIONAL: dict[str, Any] = {"nullable": True}
REQUIRED: dict[str, Any] = {"nullable": False}


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(length=64), **OPTIONAL),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("long_exchange", sa.String(length=32), **REQUIRED),
        sa.Column("short_exchange", sa.String(length=32), **REQUIRED),
        sa.Column("status", sa.String(length=16), **REQUIRED),
        sa.Column("quantity", DECIMAL, **REQUIRED),
        sa.Column("leverage", DECIMAL, **REQUIRED),
        sa.Column("entry_net_apr", DECIMAL, **OPTIONAL),
        sa.Column("entry_long_price", DECIMAL, **OPTIONAL),
        sa.Column("entry_short_price", DECIMAL, **OPTIONAL),
        sa.Column("exit_long_price", DECIMAL, **OPTIONAL),
        sa.Column("exit_short_price", DECIMAL, **OPTIONAL),
        sa.Column("opened_at", sa.DateTime(), **REQUIRED),
        sa.Column("closed_at", sa.DateTime(), **OPTIONAL),
        sa.Column("close_reason", sa.String(length=200), **OPTIONAL),
        sa.Column("detail", sa.JSON(), **REQUIRED),
    )
    op.create_index("ix_positions_account", "positions", ["account"])
    op.create_index("ix_positions_status", "positions", ["status"])

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("position_id", sa.Integer(), sa.ForeignKey("positions.id"), **REQUIRED),
        sa.Column("phase", sa.String(length=16), **REQUIRED),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("side", sa.String(length=4), **REQUIRED),
        sa.Column("quantity", DECIMAL, **REQUIRED),
        sa.Column("price", DECIMAL, **REQUIRED),
        sa.Column("fee", DECIMAL, **REQUIRED),
        sa.Column("liquidity", sa.String(length=8), **REQUIRED),
        sa.Column("order_id", sa.String(length=64), **OPTIONAL),
        sa.Column("ts", sa.DateTime(), **REQUIRED),
    )
    op.create_index("ix_fills_position_id", "fills", ["position_id"])

    op.create_table(
        "funding_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("position_id", sa.Integer(), sa.ForeignKey("positions.id"), **REQUIRED),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("amount", DECIMAL, **REQUIRED),
        sa.Column("rate", DECIMAL, **OPTIONAL),
        sa.Column("ts", sa.DateTime(), **REQUIRED),
        sa.Column("payment_key", sa.String(length=64), **REQUIRED),
        sa.UniqueConstraint("position_id", "exchange", "payment_key", name="uq_funding_once"),
    )
    op.create_index("ix_funding_payments_position_id", "funding_payments", ["position_id"])

    op.create_table(
        "funding_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("collected_at", sa.DateTime(), **REQUIRED),
        sa.Column("rate", DECIMAL, **REQUIRED),
        sa.Column("interval_hours", DECIMAL, **REQUIRED),
        sa.Column("rate_8h", DECIMAL, **REQUIRED),
        sa.Column("mark_price", DECIMAL, **OPTIONAL),
        sa.Column("volume_24h_usd", DECIMAL, **OPTIONAL),
        sa.Column("open_interest_usd", DECIMAL, **OPTIONAL),
        sa.Column("next_funding_time", sa.DateTime(), **OPTIONAL),
    )
    op.create_index("ix_funding_snapshots_collected_at", "funding_snapshots", ["collected_at"])
    op.create_index("ix_funding_snapshots_pair_time", "funding_snapshots", ["exchange", "symbol", "collected_at"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=64), unique=True, **REQUIRED),
        sa.Column("created_at", sa.DateTime(), **REQUIRED),
    )

    op.create_table(
        "account_credentials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), **REQUIRED),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("ciphertext", sa.LargeBinary(), **REQUIRED),
        sa.Column("key_id", sa.String(length=64), **REQUIRED),
        sa.Column("updated_at", sa.DateTime(), **REQUIRED),
        sa.UniqueConstraint("account_id", "exchange", name="uq_account_exchange"),
    )
    op.create_index("ix_account_credentials_account_id", "account_credentials", ["account_id"])


def downgrade() -> None:
    for table in ("account_credentials", "accounts", "funding_snapshots", "funding_payments", "fills", "positions"):
        op.drop_table(table)
