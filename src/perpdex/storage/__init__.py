"""Persistence: positions, fills, funding payments, funding-rate history, accounts and their
encrypted credentials (SQLAlchemy 2 async; SQLite by default, PostgreSQL by URL; schema migrated
by Alembic, see ``perpdex.storage.migrate``)."""

from .migrate import StorageError
from .store import (
                    BackstopRow,
                    CooldownRow,
                    FillRow,
                    FundingRow,
                    OrderFillRow,
                    OrderRole,
                    OrderRow,
                    PositionRow,
                    PositionStatus,
                    Store,
                    open_store,
                    storage_failure,
)

__all__ = ["Store", "StorageError", "BackstopRow", "PositionRow", "FillRow", "FundingRow", "OrderRow", "OrderFillRow",
           "CooldownRow", "PositionStatus", "OrderRole", "open_store", "storage_failure"]
