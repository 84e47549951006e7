"""Fixtures for the Lighter emulator's own tests: the emulated venue fixture is the one the
client tests use (tests/exchanges/lighter/conftest.py), imported so that both start it the same way."""

from tests.exchanges.lighter.conftest import lighter  # noqa: F401 - a fixture, found by pytest by name

