"""Slippage from recorded depth: the books of a ``perpdex record`` recording at the backtest's
entry and exit times, walked for each fill's size.

* The recording is replayed with the live feed classes (:func:`perpdex.recording.replay.open_replay`,
  stepped): for every time a position needs, the replay is advanced to that time and the books
  are read as they were then (the **nearest earlier state**).
* A fill of notional ``N`` USD on one side takes ``q = N / mid`` base units from the other side
  of that book, walked by :func:`perpdex.execution.sizing.walk_book` (the book walk the live
  pre-flight uses). Its slippage is the distance of the average price from the mid, on ``N``:
  ``N * (vwap - mid) / mid`` for a buy, ``N * (mid - vwap) / mid`` for a sell (half the spread
  plus the walk; the model's ``slippage_bps`` stands for the same cost). When the recorded book
  holds less than ``q``, the rest is charged at its deepest level's price (a lower bound; the
  fill counts in ``depth_exhausted``).
* A time is **covered** for an (exchange, symbol) when the recording holds that market, its book
  was built at that time, and the time is not more than ``max_age_s`` after the exchange's last
  recorded message (a later time would use a stale book). Elsewhere the backtest charges the
  model's ``slippage_bps``; the report counts the fills of each source.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..errors import StaleMarketData
from ..exchanges.base import Depth
from ..execution.sizing import walk_book
from ..models import Side
from ..recording.replay import open_replay
from ..recording.writer import read_manifest

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 3600.0


@dataclass(frozen=True)
class DepthFill:
    """One fill priced on a recorded book: ``cost`` USD, ``vwap`` and ``mid`` USD per exchange
    unit, ``quantity`` base units taken, ``exhausted`` True when the book held less."""

    cost: Decimal
    vwap: Decimal
    mid: Decimal
    quantity: Decimal
    exhausted: bool


def fill_cost(depth: Depth, buy: bool, notional: Decimal) -> DepthFill | None:
    """The slippage of taking ``notional`` USD on ``depth`` (see the module doc); None when a
    side of the book is empty."""
    if not depth["bids"] or not depth["asks"]:
        return None
    mid = (depth["bids"][0]["price"] + depth["asks"][0]["price"]) / 2
    qty = notional / mid
    side = Side.BUY if buy else Side.SELL
    filled, avg = walk_book(depth, side, qty)
    levels = depth["asks"] if buy else depth["bids"]
    exhausted = filled < qty
    if exhausted:  # the rest at the deepest recorded price
        paid = (avg or Decimal(0)) * filled + (qty - filled) * levels[-1]["price"]
        avg = paid / qty
    assert avg is not None
    cost = notional * ((avg - mid) if buy else (mid - avg)) / mid
    return DepthFill(cost, avg, mid, qty, exhausted)


@dataclass
class RecordedDepth:
    """Recorded books at the times asked for: ``books[(exchange, symbol, epoch s)]`` the book as
    it was then; ``starts`` / ``ends[exchange]`` the epoch s of its first / last recorded message.
    :meth:`depth_at` answers for a covered time (see the module doc)."""

    directory: Path
    max_age_s: float = DEFAULT_MAX_AGE_S
    books: dict[tuple[str, str, int], Depth] = field(default_factory=dict)
    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)

    def covers(self, exchange: str, ts: int) -> bool:
        """Whether epoch second ``ts`` lies in ``exchange``'s recording (up to ``max_age_s`` after
        its last message)."""
        start, end = self.starts.get(exchange), self.ends.get(exchange)
        return start is not None and end is not None and start <= ts <= end + self.max_age_s

    def depth_at(self, exchange: str, symbol: str, ts: int) -> Depth | None:
        """The recorded book of ``symbol`` on ``exchange`` at epoch second ``ts`` (its nearest
        earlier state), or None when the recording does not cover it (or ``ts`` was not loaded)."""
        return self.books.get((exchange, symbol, ts)) if self.covers(exchange, ts) else None

    @classmethod
    async def load(cls, directory: str | Path, needs: Iterable[tuple[str, str, int]], *,
                   max_age_s: float = DEFAULT_MAX_AGE_S, levels: int = 1000) -> RecordedDepth:
        """Replay ``directory`` (stepped, with the live feed classes) and keep, for each
        ``(exchange, symbol, epoch s)`` of ``needs`` the recording covers, the book as it was then
        (up to ``levels`` per side). Raises FileNotFoundError / ValueError for a missing or bad
        recording."""
        directory = Path(directory)
        out = cls(directory, max_age_s)
        recorded = read_manifest(directory).get("exchanges", {})
        for name, meta in recorded.items():
            if meta.get("first_ns") and meta.get("last_ns"):
                out.starts[name] = meta["first_ns"] / 1e9
                out.ends[name] = meta["last_ns"] / 1e9
        wanted: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for ex, sym, ts in needs:
            syms = recorded.get(ex, {}).get("symbols") or []
            if sym in syms and out.covers(ex, ts):
                wanted[ts].add((ex, sym))
        if not wanted:
            return out
        rp = await open_replay(directory, exchanges=sorted({ex for ms in wanted.values() for ex, _ in ms}), stepped=True)
        try:
            for ts in sorted(wanted):
                await rp.advance_to(int(ts * 1_000_000_000))
                for ex, sym in sorted(wanted[ts]):
                    try:
                        book = rp.exchanges[ex].client.feed.book(sym)
                    except StaleMarketData:
                        continue  # not built (yet) at that time, or resyncing
                    out.books[(ex, sym, ts)] = book.depth(levels)
        finally:
            await rp.close()
        log.info("recorded depth: %d book states from %s", len(out.books), directory)
        return out
