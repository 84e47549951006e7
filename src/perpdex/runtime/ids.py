"""Client order ids that carry the strategy that sent the order.

Every exchange here accepts a numeric client id (Backpack: an integer below 2^32; Lighter: a
``client_order_index`` below 2^48; Aster and Paradex take strings, digits included), so one
format serves all four: ``str(tag * 10**8 + seq)``, where ``tag`` (1..42) names the strategy and
``seq`` (0..10^8-1) counts its orders. Tags come from the strategy's name (CRC-32), so they stay
the same across restarts and config reorderings; two names with the same tag are refused when the
strategies are built (:func:`assign_tags`). ``seq`` starts from the clock (tenths of a second,
modulo 10^8, wrapping every ~116 days) and counts up, so a restarted bot does not reuse the ids
of its last run's orders.
"""

from __future__ import annotations

import time
import zlib

SEQ_SPAN = 10**8
MAX_TAG = 42  # 42 * 10^8 + 10^8 - 1 < 2^32 (Backpack's bound)


def strategy_tag(name: str) -> int:
    """The tag (1..42) of the strategy named ``name``."""
    return zlib.crc32(name.encode()) % MAX_TAG + 1


def assign_tags(names: list[str]) -> dict[str, int]:
    """name -> tag for every strategy of one bot; raises ``ValueError`` naming both strategies
    when two names share a tag (rename one of them)."""
    out: dict[str, int] = {}
    seen: dict[int, str] = {}
    for name in names:
        tag = strategy_tag(name)
        if tag in seen and seen[tag] != name:
            raise ValueError(f"strategies {seen[tag]!r} and {name!r} share client-id tag {tag}: rename one of them")
        seen[tag] = name
        out[name] = tag
    return out


def tag_of(client_order_id: str | None) -> int | None:
    """The strategy tag a client order id carries, or None for an id perpdex did not make."""
    if not client_order_id or not client_order_id.isdigit():
        return None
    tag = int(client_order_id) // SEQ_SPAN
    return tag if 1 <= tag <= MAX_TAG else None


class ClientIds:
    """Issues the client order ids of one strategy (see module doc)."""

    def __init__(self, name: str, tag: int | None = None) -> None:
        self.name = name
        self.tag = tag if tag is not None else strategy_tag(name)
        if not 1 <= self.tag <= MAX_TAG:
            raise ValueError(f"client-id tag must be in 1..{MAX_TAG}, got {self.tag}")
        self._seq = int(time.time() * 10) % SEQ_SPAN

    def next(self) -> str:
        """A new client order id of this strategy."""
        self._seq = (self._seq + 1) % SEQ_SPAN
        return str(self.tag * SEQ_SPAN + self._seq)

    def owns(self, client_order_id: str | None) -> bool:
        """True when ``client_order_id`` was issued for this strategy (by this or an earlier run)."""
        return tag_of(client_order_id) == self.tag
