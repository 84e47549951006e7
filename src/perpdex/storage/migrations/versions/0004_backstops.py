"""Backstop orders: one row per reduce-only stop-market order resting on a leg's own exchange
(placement, moves, firing), read by the runtime's recovery and by ``perpdex status``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DECIMAL = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "backstops",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("position_id", sa.Integer(), sa.ForeignKey("positions.id"), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("leg", sa.String(length=8), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("trigger_price", DECIMAL, nullable=True),
        sa.Column("trigger_by", sa.String(length=8), nullable=True),
        sa.Column("liquidation_price", DECIMAL, nullable=True),
        sa.Column("liquidation_source", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_backstops_position_id", "backstops", ["position_id"])
    op.create_index("ix_backstops_state", "backstops", ["state"])


def downgrade() -> None:
    op.drop_index("ix_backstops_state", table_name="backstops")
    op.drop_index("ix_backstops_position_id", table_name="backstops")
    op.drop_table("backstops")
