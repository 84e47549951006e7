"""Properties of the L2 book engine (hypothesis), against a plain-dict reference model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpdex.book import OrderBook, depth_from_levels

prices = st.integers(min_value=1, max_value=400).map(lambda i: i / 4)  # tick 0.25
sizes = st.one_of(st.just(0.0), st.integers(min_value=1, max_value=1000).map(lambda i: i / 10))
updates = st.lists(st.tuples(st.booleans(), prices, sizes), max_size=200)


def reference(ops):
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for is_bid, p, s in ops:
        side = bids if is_bid else asks
        if s > 0:
            side[p] = s
        else:
            side.pop(p, None)
    return bids, asks


@settings(max_examples=300, deadline=None)
@given(updates)
def test_levels_match_reference_model_and_best_is_extreme(ops):
    book = OrderBook("X")
    for is_bid, p, s in ops:
        (book.set_bid if is_bid else book.set_ask)(p, s)
    bids, asks = reference(ops)
    assert book.bids() == sorted(bids.items(), reverse=True)
    assert book.asks() == sorted(asks.items())
    assert book.best_bid() == (max(bids.items()) if bids else None)
    assert book.best_ask() == (min(asks.items()) if asks else None)
    assert len(book) == len(bids) + len(asks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(prices, sizes), max_size=60), st.lists(st.tuples(prices, sizes), max_size=60))
def test_never_crossed_after_valid_input(raw_bids, raw_asks):
    # valid input: every bid strictly below every ask (a real exchange's book)
    mid = 50.0
    book = OrderBook("X")
    book.apply_snapshot([(p, s) for p, s in raw_bids if p < mid], [(p, s) for p, s in raw_asks if p > mid])
    for p, s in raw_bids:
        if p < mid:
            book.set_bid(p, s)
    for p, s in raw_asks:
        if p > mid:
            book.set_ask(p, s)
    assert not book.is_crossed()


def test_delete_by_zero_and_unknown_delete_is_noop():
    book = OrderBook("X")
    book.apply_levels([(10.0, 1.0), (9.5, 2.0)], [(11.0, 3.0)])
    book.set_bid(10.0, 0.0)
    book.set_bid(7.0, 0.0)  # unknown level: no-op
    book.set_ask(12.0, 0.0)
    assert book.best_bid() == (9.5, 2.0)
    assert book.bids() == [(9.5, 2.0)]
    assert book.asks() == [(11.0, 3.0)]


def test_snapshot_replaces_everything():
    book = OrderBook("X")
    book.apply_levels([(10.0, 1.0)], [(11.0, 1.0)])
    book.apply_snapshot([(20.0, 5.0), (19.0, 0.0)], [(21.0, 4.0)], sequence=7)
    assert book.bids() == [(20.0, 5.0)]  # zero-size snapshot levels are ignored
    assert book.asks() == [(21.0, 4.0)]
    assert book.sequence == 7


def test_crossed_detection():
    book = OrderBook("X")
    book.apply_levels([(10.0, 1.0)], [(10.0, 1.0)])
    assert book.is_crossed()


def test_depth_view_is_decimal_best_first():
    book = OrderBook("X")
    book.apply_levels([(0.1, 1.5), (0.3, 2.0), (0.2, 1.0)], [(0.4, 1.0), (0.7, 2.0)])
    d = book.depth(2)
    assert d["bids"] == [{"price": Decimal("0.3"), "size": Decimal("2.0")}, {"price": Decimal("0.2"), "size": Decimal("1.0")}]
    assert d["asks"][0] == {"price": Decimal("0.4"), "size": Decimal("1.0")}


def test_depth_from_unsorted_levels_drops_empty_and_zero_prices():
    d = depth_from_levels([(1.0, 1.0), (3.0, 1.0), (0.0, 5.0)], [(5.0, 1.0), (4.0, 0.0), (4.5, 2.0)], 10)
    assert [lv["price"] for lv in d["bids"]] == [Decimal("3.0"), Decimal("1.0")]
    assert [lv["price"] for lv in d["asks"]] == [Decimal("4.5"), Decimal("5.0")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(prices, sizes), max_size=25), st.lists(st.tuples(prices, sizes), max_size=25)),
                min_size=1, max_size=6),
       st.sampled_from(["best", "levels", "len", "crossed", "set", "apply"]))
def test_staged_snapshot_book_reads_as_the_applied_snapshot(snapshots, first_read):
    """``SnapshotBook.stage_snapshot`` (built on read) and ``OrderBook.apply_snapshot`` give the same
    book through every read and write, whichever comes first after the staging."""
    from perpdex.book import SnapshotBook

    lazy, eager = SnapshotBook("X"), OrderBook("X")
    for i, (b, a) in enumerate(snapshots):
        lazy.stage_snapshot(b, a, i)
        eager.apply_snapshot(b, a, i)
        assert lazy.sequence == eager.sequence == i
    if first_read == "set":
        lazy.set_bid(1.0, 2.0)
        eager.set_bid(1.0, 2.0)
        lazy.set_ask(99.0, 0.0)
        eager.set_ask(99.0, 0.0)
    elif first_read == "apply":
        lazy.apply_levels([(2.0, 0.0)], [(50.0, 1.5)], 9)
        eager.apply_levels([(2.0, 0.0)], [(50.0, 1.5)], 9)
    elif first_read == "len":
        assert len(lazy) == len(eager)
    elif first_read == "crossed":
        assert lazy.is_crossed() == eager.is_crossed()
    elif first_read == "best":
        assert lazy.best_bid() == eager.best_bid() and lazy.best_ask() == eager.best_ask()
    assert lazy.bids() == eager.bids() and lazy.asks() == eager.asks()
    assert lazy.depth(5) == eager.depth(5) and lazy.empty == eager.empty
    assert lazy.sequence == eager.sequence
    lazy.stage_snapshot([(1.0, 1.0)], [(2.0, 1.0)], 7)
    lazy.clear()
    assert lazy.empty and lazy.best_bid() is None and lazy.sequence is None


def test_staged_snapshot_with_a_decoder_is_decoded_on_the_first_read() -> None:
    """``stage_snapshot(..., decode=f)`` holds encoded sides and decodes them on the read; a side
    that does not decode raises ``BookDecodeError`` from that read and leaves the book empty."""
    import json

    from perpdex.book import BookDecodeError, SnapshotBook

    calls: list[str] = []

    def decode(raw: str) -> list[tuple[float, float]]:
        calls.append(raw)
        return [(float(p), float(s)) for p, s in json.loads(raw)]

    book = SnapshotBook("X")
    book.stage_snapshot('[["1.5","2"],["1.0","0"]]', '[["2.0","1"]]', 3, decode)
    book.stage_snapshot('[["1.6","2"],["1.4","1"]]', '[["2.0","1"]]', 4, decode)
    assert calls == []  # the replaced snapshot is never decoded
    assert book.best_bid() == (1.6, 2.0) and book.bids() == [(1.6, 2.0), (1.4, 1.0)] and book.sequence == 4
    assert len(calls) == 2
    book.stage_snapshot('[["1.6","2"]]', '[["2.0","x"]]', 5, decode)
    with pytest.raises(BookDecodeError, match="X"):
        book.best_ask()
    assert book.empty and book.sequence == 5
