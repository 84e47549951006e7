"""Accounts tests run on SQLite and on a throwaway PostgreSQL server (``store_url``, tests/postgres.py)."""

from __future__ import annotations

import pytest

from perpdex.storage import Store


@pytest.fixture
async def store(store_url):
    """A migrated :class:`Store` on an empty database of each backend."""
    st = Store(store_url)
    await st.init()
    try:
        yield st
    finally:
        await st.close()
