"""Fixtures of the funding tests: a real store, on SQLite and on PostgreSQL (``store_url``)."""

from __future__ import annotations

import pytest

from perpdex.storage import Store


@pytest.fixture
async def store(store_url):
    """A fresh store (schema created) on each backend; closed after the test."""
    st = Store(store_url)
    await st.init()
    try:
        yield st
    finally:
        await st.close()
