"""Fixtures for the Backpack emulator's own tests: the emulated venue fixture is the one the
client tests use (tests/exchanges/backpack/conftest.py), imported so that both start it the same way."""

from tests.exchanges.backpack.conftest import bp  # noqa: F401 - a fixture, found by pytest by name

