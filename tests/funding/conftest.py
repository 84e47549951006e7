"""Fixtures of the funding tests: a real SQLite store in the test's temporary directory."""

from __future__ import annotations

import pytest

from perpdex.storage import Store


@pytest.fixture
async def store(tmp_path):
    """A fresh SQLite store (tables created) at ``tmp_path/s.db``; closed after the test."""
    st = Store(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await st.init()
    try:
        yield st
    finally:
        await st.close()
