"""Persistence: positions, fills and funding payments (SQLAlchemy 2 async; SQLite by default)."""

from .store import FillRow, FundingRow, PositionRow, Store

__all__ = ["Store", "PositionRow", "FillRow", "FundingRow"]
