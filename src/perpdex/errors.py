"""The typed error hierarchy every exchange error maps into.

Strategy and execution code catch these, never a library's own exception classes. Messages
never contain credentials (see ``perpdex.secrets.redact``).
"""

from __future__ import annotations


class PerpdexError(Exception):
    """Root of every error perpdex raises on purpose."""


class ConfigError(PerpdexError):
    """A configuration value is missing or invalid. ``field`` names it (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"config field '{field}': {message}")
        self.field = field


class ExchangeError(PerpdexError):
    """An exchange (or its emulator) answered with an error. ``exchange`` names it."""

    def __init__(self, message: str, *, exchange: str = "", code: str | int | None = None) -> None:
        prefix = f"[{exchange}] " if exchange else ""
        super().__init__(prefix + message)
        self.exchange = exchange
        self.code = code


class DependencyMissing(ExchangeError, RuntimeError):
    """A package or native library an exchange needs is not installed; the message names the
    exchange and the command that installs it (one line, shown as is to the user)."""


class RateLimited(ExchangeError):
    """HTTP 429 / the exchange's rate-limit codes."""


class AuthenticationError(ExchangeError):
    """Bad or missing credentials, bad signature, expired token."""


class InsufficientMargin(ExchangeError):
    """Not enough available margin / balance for the order."""


class InvalidOrder(ExchangeError):
    """The exchange refused the order's parameters (tick, lot, min notional, post-only cross...)."""


class OrderNotFound(ExchangeError):
    """Cancel or lookup of an order id the exchange does not know."""


class MarketNotFound(ExchangeError):
    """A symbol that the exchange does not list (or lists as inactive)."""


class UnknownSymbol(MarketNotFound, KeyError):
    """A symbol, exchange market name or market id that an exchange's symbol map
    (:class:`perpdex.symbols.SymbolMap`) does not list and its naming rule cannot read. Also a
    ``KeyError``, so a lookup can be caught as a missing key."""

    __str__ = Exception.__str__  # the message as given (KeyError would quote it)


class NetworkError(ExchangeError):
    """Transport failure: connection refused, reset, timed out."""


class StaleMarketData(PerpdexError):
    """A book or BBO is not ready, was crossed, or is older than its staleness bound."""


class ExecutionError(PerpdexError):
    """A trade could not be executed safely (pre-flight failed, leg unfilled, rollback...)."""
