"""Fixtures for the Paradex emulator's own tests: the emulated venue fixture is the one the
client tests use (tests/exchanges/paradex/conftest.py), imported so that both start it the same way."""

from tests.exchanges.paradex.conftest import paradex  # noqa: F401 - a fixture, found by pytest by name

