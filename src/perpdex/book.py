"""The L2 order book engine (hot path).

Levels are stored natively as floats: one ``dict`` key -> size per side plus one sorted key list
per side arranged so that the best level is always the **last** element (bids keyed by price,
ascending; asks keyed by the negated price, ascending, so the dict and the list share one float
object per level: a 200+200-level book holds ~41 KB). Best bid/ask are O(1); inserting or deleting a level is a binary search
plus a list shift, which stays cheap for the 20–1,500 levels real books have and is O(1) amortized
for the near-top updates that dominate real traffic. ``Decimal`` only appears in the views
returned by :meth:`OrderBook.depth` (the API edge).

Sizes are base units, prices quote units. A size of 0 deletes a level; deleting an unknown level is
a no-op (exchanges do send those).
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

Level = tuple[float, float]


class BookDecodeError(ValueError):
    """A lazily staged snapshot (:meth:`SnapshotBook.stage_snapshot` with ``decode``) could not be
    decoded when the book was first read; the book is left empty and the feed must resync."""


def to_decimal(x: float) -> Decimal:
    """Float -> Decimal through the shortest repr, so 0.1 stays ``Decimal('0.1')``."""
    return Decimal(repr(x))


class OrderBook:
    """One symbol's L2 book. Not thread-safe; owned by one feed task."""

    __slots__ = ("symbol", "_bids", "_asks", "_bid_keys", "_ask_keys", "sequence", "updated_at")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}  # keyed by -price
        self._bid_keys: list[float] = []  # ascending prices: best bid last
        self._ask_keys: list[float] = []  # ascending negated prices: best ask last
        self.sequence: int | None = None
        self.updated_at: float = 0.0  # time.monotonic() of the last change, seconds

    # -- writes ---------------------------------------------------------------------------------
    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()
        self.sequence = None
        self.updated_at = 0.0

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        """Replace the whole book with ``(price, size)`` levels in any order (prices quote units,
        sizes base units). Zero-size levels in a snapshot are ignored; a repeated price keeps its
        last positive size. Cost: one dict and one near-linear sort per side (levels that arrive
        best-first, as every exchange sends them, sort in O(n))."""
        self._bids = b = {p: s for p, s in bids if s > 0.0}
        self._asks = a = {-p: s for p, s in asks if s > 0.0}
        self._bid_keys = sorted(b)
        self._ask_keys = sorted(a)
        self.sequence = sequence
        self.updated_at = time.monotonic()

    def set_bid(self, price: float, size: float) -> None:
        """Set the absolute size at ``price`` on the bid side (0 deletes)."""
        book = self._bids
        if size > 0.0:
            if price not in book:
                keys = self._bid_keys
                if not keys or price > keys[-1]:
                    keys.append(price)
                else:
                    insort(keys, price)
            book[price] = size
        elif book.pop(price, None) is not None:
            keys = self._bid_keys
            if keys[-1] == price:
                keys.pop()
            else:
                del keys[bisect_left(keys, price)]

    def set_ask(self, price: float, size: float) -> None:
        """Set the absolute size at ``price`` on the ask side (0 deletes)."""
        book = self._asks
        key = -price
        if size > 0.0:
            if key not in book:
                keys = self._ask_keys
                if not keys or key > keys[-1]:
                    keys.append(key)
                else:
                    insort(keys, key)
            book[key] = size
        elif book.pop(key, None) is not None:
            keys = self._ask_keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    def apply_levels(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        """Apply absolute-size level updates (deltas) on both sides: ``(price, size)``, prices quote
        units, sizes base units, size 0 deletes. Same effect as :meth:`set_bid` / :meth:`set_ask`
        per level (inlined here: this is the per-message hot path)."""
        book = self._bids
        keys = self._bid_keys
        for price, size in bids:
            if size > 0.0:
                if price not in book:
                    if not keys or price > keys[-1]:
                        keys.append(price)
                    else:
                        insort(keys, price)
                book[price] = size
            elif book.pop(price, None) is not None:
                if keys[-1] == price:
                    keys.pop()
                else:
                    del keys[bisect_left(keys, price)]
        book = self._asks
        keys = self._ask_keys
        for price, size in asks:
            key = -price
            if size > 0.0:
                if key not in book:
                    if not keys or key > keys[-1]:
                        keys.append(key)
                    else:
                        insort(keys, key)
                book[key] = size
            elif book.pop(key, None) is not None:
                if keys[-1] == key:
                    keys.pop()
                else:
                    del keys[bisect_left(keys, key)]
        if sequence is not None:
            self.sequence = sequence
        self.updated_at = time.monotonic()

    # -- reads ----------------------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        """(price, size) of the best bid, or None on an empty side. O(1)."""
        keys = self._bid_keys
        if not keys:
            return None
        p = keys[-1]
        return p, self._bids[p]

    def best_ask(self) -> Level | None:
        """(price, size) of the best ask, or None on an empty side. O(1)."""
        keys = self._ask_keys
        if not keys:
            return None
        k = keys[-1]
        return -k, self._asks[k]

    def is_crossed(self) -> bool:
        """True when best bid >= best ask (a valid book never is)."""
        if not self._bid_keys or not self._ask_keys:
            return False
        return self._bid_keys[-1] >= -self._ask_keys[-1]

    @property
    def empty(self) -> bool:
        return not self._bids and not self._asks

    def bids(self, n: int | None = None) -> list[Level]:
        """Top ``n`` bids (all when None), best first, as (price, size) floats."""
        keys = self._bid_keys
        sel = keys if n is None else keys[-n:] if n > 0 else []
        book = self._bids
        return [(p, book[p]) for p in reversed(sel)]

    def asks(self, n: int | None = None) -> list[Level]:
        """Top ``n`` asks (all when None), best first, as (price, size) floats."""
        keys = self._ask_keys
        sel = keys if n is None else keys[-n:] if n > 0 else []
        book = self._asks
        return [(-k, book[k]) for k in reversed(sel)]

    def depth(self, levels: int = 10) -> dict[str, list[dict[str, Decimal]]]:
        """The spec's depth shape: ``{'bids': [{'price': Decimal, 'size': Decimal}, ...], 'asks': [...]}``,
        best first, ``levels`` per side."""
        return {
            "bids": [{"price": to_decimal(p), "size": to_decimal(s)} for p, s in self.bids(levels)],
            "asks": [{"price": to_decimal(p), "size": to_decimal(s)} for p, s in self.asks(levels)],
        }

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)


class SnapshotBook(OrderBook):
    """An :class:`OrderBook` for feeds whose every message is a complete top-N snapshot (Aster
    ``depth20@100ms``): :meth:`stage_snapshot` keeps the decoded level lists as they arrived and
    the book is built from them on the first read (any read or write method), so a snapshot that
    is replaced by the next one before anybody looks at it costs nothing beyond its decode.

    The built book is exactly what :meth:`OrderBook.apply_snapshot` makes of the same levels (any
    order, zero sizes dropped, duplicates last-wins), so reads see the same book either way;
    ``sequence`` and ``updated_at`` are those of the staged snapshot (updated at staging, not at
    the read). The staged lists are held, not copied: the caller must not mutate them.

    With ``decode``, the staged sides are still encoded (e.g. the raw JSON of the level arrays) and
    are decoded on the first read too, so a replaced snapshot costs no level parsing at all; a side
    that fails to decode raises :class:`BookDecodeError` from that read and leaves the book empty."""

    __slots__ = ("_pending",)

    def __init__(self, symbol: str = "") -> None:
        super().__init__(symbol)
        self._pending: tuple[Any, Any, Callable[[Any], Sequence[Level]] | None] | None = None

    def stage_snapshot(self, bids: Any, asks: Any, sequence: int | None = None,
                       decode: Callable[[Any], Sequence[Level]] | None = None) -> None:
        """Replace the book with ``(price, size)`` levels, built lazily on the next read (prices
        quote units, sizes base units). ``bids``/``asks`` are level sequences, or anything
        ``decode`` turns into one (decoded on the read). O(1)."""
        self._pending = (bids, asks, decode)
        self.sequence = sequence
        self.updated_at = time.monotonic()

    def _settle(self) -> None:
        bids, asks, decode = self._pending  # type: ignore[misc]  # only called when a snapshot is staged
        self._pending = None
        seq, ts = self.sequence, self.updated_at
        if decode is not None:
            try:
                bids, asks = decode(bids), decode(asks)
            except Exception as exc:  # any decoder's error: the staged frame was malformed
                OrderBook.apply_snapshot(self, (), (), seq)
                self.updated_at = ts
                raise BookDecodeError(f"{self.symbol}: staged snapshot does not decode: {exc}") from exc
        OrderBook.apply_snapshot(self, bids, asks, seq)
        self.updated_at = ts

    # every read and write first builds a staged snapshot
    def clear(self) -> None:
        self._pending = None
        OrderBook.clear(self)

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        self._pending = None
        OrderBook.apply_snapshot(self, bids, asks, sequence)

    def set_bid(self, price: float, size: float) -> None:
        if self._pending is not None:
            self._settle()
        OrderBook.set_bid(self, price, size)

    def set_ask(self, price: float, size: float) -> None:
        if self._pending is not None:
            self._settle()
        OrderBook.set_ask(self, price, size)

    def apply_levels(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        if self._pending is not None:
            self._settle()
        OrderBook.apply_levels(self, bids, asks, sequence)

    def best_bid(self) -> Level | None:
        if self._pending is not None:
            self._settle()
        return OrderBook.best_bid(self)

    def best_ask(self) -> Level | None:
        if self._pending is not None:
            self._settle()
        return OrderBook.best_ask(self)

    def is_crossed(self) -> bool:
        if self._pending is not None:
            self._settle()
        return OrderBook.is_crossed(self)

    @property
    def empty(self) -> bool:
        if self._pending is not None:
            self._settle()
        return not self._bids and not self._asks

    def bids(self, n: int | None = None) -> list[Level]:
        if self._pending is not None:
            self._settle()
        return OrderBook.bids(self, n)

    def asks(self, n: int | None = None) -> list[Level]:
        if self._pending is not None:
            self._settle()
        return OrderBook.asks(self, n)

    def __len__(self) -> int:
        if self._pending is not None:
            self._settle()
        return OrderBook.__len__(self)


def depth_from_levels(bids: Sequence[Level], asks: Sequence[Level], levels: int) -> dict[str, list[dict[str, Decimal]]]:
    """Build the depth shape from unsorted level lists (e.g. a REST answer): bids descending,
    asks ascending, zero/negative sizes and prices dropped."""
    b = sorted(((p, s) for p, s in bids if s > 0 and p > 0), reverse=True)[:levels]
    a = sorted((p, s) for p, s in asks if s > 0 and p > 0)[:levels]
    return {
        "bids": [{"price": to_decimal(p), "size": to_decimal(s)} for p, s in b],
        "asks": [{"price": to_decimal(p), "size": to_decimal(s)} for p, s in a],
    }
