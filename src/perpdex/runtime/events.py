"""The bot's events: what happened, for people (the run's event list, the dashboard, alerts).

Every event the runtime and its strategies report is one :class:`Event` published on the
runtime's :class:`EventBus`: a kind (:class:`EventKind`), a one-line message (the same line that
is logged), a logging level, the time (UTC), and the figures that go with it in ``data`` (plain
JSON values: strings, numbers, booleans; Decimals as strings), e.g. a position's id, symbol, legs
and net PnL in USD. Subscribers are called synchronously in the publisher's task, so a subscriber
only hands the event on (a queue, a list); one that raises is logged and never stops the others
or the strategy. The bus keeps the last ``keep`` events for a page that opens later.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    """What an event is about. ``info`` is every line without a more precise kind."""

    INFO = "info"
    POSITION_OPENED = "position_opened"
    POSITION_CLOSED = "position_closed"
    OPEN_REFUSED = "open_refused"  # a pre-flight / risk check said no (data: reason)
    OPEN_FAILED = "open_failed"  # an open was tried and did not complete (data: reason)
    HEDGE = "hedge"  # a leg was hedged / rolled back / repaired (data: action)
    LIQUIDATION = "liquidation"  # a leg liquidated or auto-deleveraged by the exchange
    NAKED_LEG = "naked_leg"  # one leg open without its hedge, not flattened
    STREAM_DOWN = "stream_down"  # a feed or user stream down (data: exchange, stream, reason)
    STREAM_UP = "stream_up"
    GRID_STOP = "grid_stop"  # the grid's stop price breached
    GRID_PAUSE = "grid_pause"  # the grid's pause price breached
    SUMMARY = "summary"  # a periodic summary (daily)
    BACKSTOP_PLACED = "backstop_placed"  # a leg's exchange-side stop placed or moved (data: leg, trigger_price)
    BACKSTOP_FIRED = "backstop_fired"  # a leg's backstop executed on its exchange (data: leg, exchange)
    BACKSTOP_FAILED = "backstop_failed"  # a backstop refused / not placeable (data: leg, reason)
    CLOSE_FAILED = "close_failed"  # a close was tried and did not complete (data: reason)
    EXCHANGE_DOWN = "exchange_down"  # an exchange cannot be reached: left out (data: exchange, reason)
    EXCHANGE_UP = "exchange_up"  # a down exchange is back (data: exchange, down_s)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


@dataclass(frozen=True)
class Event:
    """One event. ``level`` a :mod:`logging` level; ``ts`` UTC; ``data`` plain JSON values."""

    kind: EventKind
    message: str
    level: int = logging.INFO
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    strategy: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``ts`` ISO 8601 UTC, ``level`` its name (``"INFO"``)."""
        return {"kind": self.kind.value, "message": self.message, "level": logging.getLevelName(self.level),
                "ts": self.ts.isoformat(), "strategy": self.strategy, "data": dict(self.data)}


Subscriber = Callable[[Event], None]


class EventBus:
    """Publish / subscribe for :class:`Event`; remembers the last ``keep`` events."""

    def __init__(self, keep: int = 500) -> None:
        self._subscribers: list[Subscriber] = []
        self._recent: deque[Event] = deque(maxlen=keep)

    def publish(self, kind: EventKind, message: str, *, level: int = logging.INFO, strategy: str | None = None,
                **data: Any) -> Event:
        """Log ``message`` at ``level``, then hand the event to every subscriber; returns it."""
        ev = Event(EventKind(kind), message, level, strategy=strategy, data={k: _plain(v) for k, v in data.items()})
        log.log(level, message)
        self._recent.append(ev)
        for fn in list(self._subscribers):
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - a subscriber's bug never reaches the strategy
                log.exception("event subscriber failed")
        return ev

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every event published from now on; returns a remover."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def recent(self, n: int | None = None) -> list[Event]:
        """The last ``n`` events (all kept when None), oldest first."""
        items = list(self._recent)
        return items if n is None else items[-n:]
