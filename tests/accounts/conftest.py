"""Accounts tests run on SQLite and on a throwaway PostgreSQL server: the storage tests' ``store``
fixture (a migrated store on an empty database of each backend)."""

from tests.storage.conftest import store  # noqa: F401
