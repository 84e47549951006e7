"""Settled funding history downloaded from the exchanges' public endpoints (``perpdex history fetch``),
one row per (exchange, symbol, settlement time), read by the backtest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DECIMAL = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "funding_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("funding_time", sa.DateTime(), nullable=False),
        sa.Column("rate", DECIMAL, nullable=False),
        sa.Column("interval_hours", DECIMAL, nullable=False),
        sa.Column("rate_8h", DECIMAL, nullable=False),
        sa.Column("mark_price", DECIMAL, nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("exchange", "symbol", "funding_time", name="uq_funding_history_once"),
    )
    op.create_index("ix_funding_history_time", "funding_history", ["funding_time"])


def downgrade() -> None:
    op.drop_index("ix_funding_history_time", table_name="funding_history")
    op.drop_table("funding_history")
