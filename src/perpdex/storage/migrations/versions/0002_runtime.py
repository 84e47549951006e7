"""The runtime: positions carry their strategy; the orders and fills of single-exchange
strategies (the grid); cooldowns kept across restarts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Existing positions belong to the only strategy there was, ``funding_arb`` (server default).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DECIMAL = sa.String(length=64)
OPTIONAL: dict[str, Any] = {"nullable": True}
REQUIRED: dict[str, Any] = {"nullable": False}


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("strategy", sa.String(length=64), server_default=sa.text("'funding_arb'"),
                                   **REQUIRED))
        batch.create_index("ix_positions_strategy", ["strategy"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("strategy", sa.String(length=64), **REQUIRED),
        sa.Column("account", sa.String(length=64), **OPTIONAL),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("client_order_id", sa.String(length=64), **REQUIRED),
        sa.Column("order_id", sa.String(length=64), **OPTIONAL),
        sa.Column("role", sa.String(length=16), **REQUIRED),
        sa.Column("side", sa.String(length=4), **REQUIRED),
        sa.Column("price", DECIMAL, **OPTIONAL),
        sa.Column("quantity", DECIMAL, **REQUIRED),
        sa.Column("filled", DECIMAL, **REQUIRED),
        sa.Column("status", sa.String(length=20), **REQUIRED),
        sa.Column("reduce_only", sa.Boolean(), **REQUIRED),
        sa.Column("post_only", sa.Boolean(), **REQUIRED),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("orders.id"), **OPTIONAL),
        sa.Column("created_at", sa.DateTime(), **REQUIRED),
        sa.Column("updated_at", sa.DateTime(), **REQUIRED),
        sa.Column("detail", sa.JSON(), **REQUIRED),
        sa.UniqueConstraint("exchange", "client_order_id", name="uq_order_client_id"),
    )
    op.create_index("ix_orders_strategy", "orders", ["strategy"])
    op.create_index("ix_orders_order_id", "orders", ["order_id"])
    op.create_index("ix_orders_status", "orders", ["status"])

    op.create_table(
        "order_fills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_row_id", sa.Integer(), sa.ForeignKey("orders.id"), **REQUIRED),
        sa.Column("strategy", sa.String(length=64), **REQUIRED),
        sa.Column("exchange", sa.String(length=32), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("order_id", sa.String(length=64), **REQUIRED),
        sa.Column("trade_id", sa.String(length=64), **REQUIRED),
        sa.Column("side", sa.String(length=4), **REQUIRED),
        sa.Column("quantity", DECIMAL, **REQUIRED),
        sa.Column("price", DECIMAL, **REQUIRED),
        sa.Column("fee", DECIMAL, **REQUIRED),
        sa.Column("liquidity", sa.String(length=8), **REQUIRED),
        sa.Column("ts", sa.DateTime(), **REQUIRED),
        sa.UniqueConstraint("exchange", "trade_id", name="uq_order_fill_once"),
    )
    op.create_index("ix_order_fills_order_row_id", "order_fills", ["order_row_id"])
    op.create_index("ix_order_fills_strategy", "order_fills", ["strategy"])

    op.create_table(
        "cooldowns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("strategy", sa.String(length=64), **REQUIRED),
        sa.Column("account", sa.String(length=64), **REQUIRED),
        sa.Column("symbol", sa.String(length=32), **REQUIRED),
        sa.Column("until", sa.DateTime(), **REQUIRED),
        sa.Column("reason", sa.String(length=200), **OPTIONAL),
        sa.UniqueConstraint("strategy", "account", "symbol", name="uq_cooldown"),
    )


def downgrade() -> None:
    for table in ("cooldowns", "order_fills", "orders"):
        op.drop_table(table)
    with op.batch_alter_table("positions") as batch:
        batch.drop_index("ix_positions_strategy")
        batch.drop_column("strategy")
