"""Fault injection for the emulator: one-shot (or counted) faults per venue, optionally per symbol.

Kinds used by the dialects: ``gap`` (skip a book sequence number), ``malformed`` (send a broken
frame), ``drop`` (close the socket), ``reject`` (reject the next order), ``http429``
(answer the next REST call with a rate-limit error), ``delay`` (delay the next response).
"""

from __future__ import annotations

from collections import Counter


class Faults:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str | None]] = Counter()

    def inject(self, kind: str, count: int = 1, symbol: str | None = None) -> None:
        """Arm ``count`` occurrences of ``kind`` (for ``symbol`` only, or any symbol when None)."""
        self._pending[(kind, symbol)] += count

    def take(self, kind: str, symbol: str | None = None) -> bool:
        """Consume one armed fault of ``kind`` matching ``symbol``; True if one was armed."""
        for key in ((kind, symbol), (kind, None)):
            if self._pending[key] > 0:
                self._pending[key] -= 1
                return True
        return False

    def pending(self, kind: str, symbol: str | None = None) -> int:
        return self._pending[(kind, symbol)] + (self._pending[(kind, None)] if symbol else 0)
