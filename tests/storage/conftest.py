"""The storage fixtures (``store_url``, ``store``) are in tests/postgres.py, for every test directory
through tests/conftest.py; ``store`` is re-exported here for modules importing it from this path."""

from tests.postgres import store  # noqa: F401
