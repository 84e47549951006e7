"""Why a pre-flight check refused a trade: a typed reason and a message naming the numbers."""

from __future__ import annotations

import enum

from ..errors import ExecutionError


class Refusal(str, enum.Enum):
    """The pre-flight check that failed."""

    MARKET = "market"  # a symbol not listed / inactive, or the catalog lookup failed
    LEVERAGE = "leverage"  # leverage could not be read, set or verified
    BOOK_NOT_READY = "book_not_ready"  # no served WebSocket book within the timeout
    EMPTY_BOOK = "empty_book"  # the side to take has no level
    MIN_SIZE = "min_size"  # the common size is below a minimum size / notional
    THIN_BOOK = "thin_book"  # the book cannot fill the size within the levels read
    SLIPPAGE = "slippage"  # VWAP too far from the touch
    SPREAD = "spread"  # bid/ask spread too wide
    MARGIN = "margin"  # not enough available collateral
    LIQUIDATION_DISTANCE = "liquidation_distance"  # liquidation price too close to the mark


class PreflightRefused(ExecutionError):
    """A pre-flight check refused the trade. ``reason`` says which check; ``exchange`` and ``leg``
    (``"long"``/``"short"``) name the leg when one leg is at fault. ``str(exc)`` is the message."""

    def __init__(self, reason: Refusal, message: str, *, exchange: str | None = None, leg: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.exchange = exchange
        self.leg = leg


def leg_name(leg: str, exchange: str) -> str:
    """``"short leg on lighter"``: how every message names a leg."""
    return f"{leg} leg on {exchange}"


def refuse(reason: Refusal, leg: str, exchange: str, what: str) -> PreflightRefused:
    """A :class:`PreflightRefused` for one leg, its message starting with the leg's name."""
    return PreflightRefused(reason, f"{leg_name(leg, exchange)}: {what}", exchange=exchange, leg=leg)
