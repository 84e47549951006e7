"""Fault injection for the emulator: one-shot (or counted) faults per venue, optionally per symbol,
optionally carrying a value.

Kinds used by the dialects: ``gap`` (skip a book sequence number), ``malformed`` (send a broken
frame), ``drop`` (close the socket), ``stall`` (hold frames back), ``reject`` (reject the next
order), ``http429`` (answer the next REST call with a rate-limit error), ``delay`` (delay the next
response before it is processed).

Order faults, implemented once in the engine and the server layer (every dialect gets them):

* ``partial`` (value: fraction 0..1, default 0.5): the next fill (taker placement or passive fill)
  executes only that fraction of the order, rounded down to the lot; a market / IOC remainder is
  canceled, a limit remainder keeps resting.
* ``ack_lost``: the next order request is executed by the matching engine, then the HTTP
  connection is closed without an answer (the client sees a disconnect).
* ``ack_late`` (value: seconds, default 1.0): the next order request is executed, its answer is held
  back that long (past the client's timeout).
* ``drop_on_fill``: the next fill arms a ``drop`` fault (market sockets closed mid-fill).
* ``stop_reject``: the next conditional (stop-market) order is refused as one whose trigger is
  already reached (``sim/conditional.py``).
"""

from __future__ import annotations

from collections import Counter, deque
from contextvars import ContextVar
from typing import Any


class Faults:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str | None]] = Counter()
        self._values: dict[tuple[str, str | None], deque[Any]] = {}

    def inject(self, kind: str, count: int = 1, symbol: str | None = None, value: Any = None) -> None:
        """Arm ``count`` occurrences of ``kind`` (for ``symbol`` only, or any symbol when None),
        each carrying ``value`` (see the module doc for the kinds that read one)."""
        key = (kind, symbol)
        self._pending[key] += count
        self._values.setdefault(key, deque()).extend([value] * count)

    def take(self, kind: str, symbol: str | None = None) -> bool:
        """Consume one armed fault of ``kind`` matching ``symbol``; True if one was armed."""
        return self.take_value(kind, symbol)[0]

    def take_value(self, kind: str, symbol: str | None = None, default: Any = None) -> tuple[bool, Any]:
        """Consume one armed fault of ``kind`` matching ``symbol``: (armed, its value or
        ``default`` when it carries none)."""
        for key in ((kind, symbol), (kind, None)):
            if self._pending[key] > 0:
                self._pending[key] -= 1
                values = self._values.get(key)
                value = values.popleft() if values else None
                return True, default if value is None else value
        return False, default

    def pending(self, kind: str, symbol: str | None = None) -> int:
        return self._pending[(kind, symbol)] + (self._pending[(kind, None)] if symbol else 0)

    def clear(self, symbol: str | None = None) -> None:
        """Disarm every fault, or only those armed for ``symbol`` and for any symbol."""
        for key in list(self._pending):
            if symbol is None or key[1] in (symbol, None):
                del self._pending[key]
                self._values.pop(key, None)


# -- order-acknowledgement faults (ack_lost / ack_late) ------------------------------------------
# The server middleware opens a scope per HTTP request; the engine notes there which order fault a
# placement consumed; the middleware then drops or delays the answer. Requests outside a scope
# (WebSocket order entry) are never affected.
_ACK_SCOPE: ContextVar[list[tuple[str, Any]] | None] = ContextVar("perpdex_sim_ack_scope", default=None)


def open_ack_scope() -> tuple[list[tuple[str, Any]], Any]:
    """Start collecting order-ack faults for the current request: (collector, token for
    :func:`close_ack_scope`)."""
    scope: list[tuple[str, Any]] = []
    return scope, _ACK_SCOPE.set(scope)


def close_ack_scope(token: Any) -> None:
    _ACK_SCOPE.reset(token)


def note_order_placed(faults: Faults, symbol: str) -> None:
    """Called by the engine after it accepted an order: consume an armed ``ack_lost`` /
    ``ack_late`` fault into the current request's scope (nothing outside a request)."""
    scope = _ACK_SCOPE.get()
    if scope is None:
        return
    if faults.take("ack_lost", symbol):
        scope.append(("ack_lost", None))
        return
    hit, seconds = faults.take_value("ack_late", symbol, 1.0)
    if hit:
        scope.append(("ack_late", float(seconds)))
