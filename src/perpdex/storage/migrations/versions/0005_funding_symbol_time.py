"""An index of funding_snapshots by (symbol, collected_at): the service reads one symbol's window
(its history, its pair statistics) in time order without visiting the other symbols' rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_funding_snapshots_symbol_time", "funding_snapshots", ["symbol", "collected_at"])


def downgrade() -> None:
    op.drop_index("ix_funding_snapshots_symbol_time", table_name="funding_snapshots")
