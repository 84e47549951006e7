"""The optimized Lighter / Aster feed hot paths (benchmarks/bench_feeds.py) keep the previous
semantics: on recorded-format frames the book equals a plain-dict model of the protocol, and
gaps, crossed books, unknown channels and malformed frames are handled as before. No timing here."""

from __future__ import annotations

import asyncio
import json
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpdex.book import OrderBook
from perpdex.errors import StaleMarketData
from perpdex.exchanges.aster.feed import AsterMarketFeed
from perpdex.exchanges.lighter.feed import LighterMarketFeed
from perpdex.exchanges.lighter.symbols import LighterSymbols


def _dumps(o: object) -> bytes:
    return json.dumps(o, separators=(",", ":")).encode()


def lighter_frame(kind: str, bids, asks, nonce: int, begin: int, market: int = 0) -> bytes:
    """A frame in the exact shape of docs/exchanges/lighter.md §4.3 (price/size strings)."""
    lv = lambda side: [{"price": p, "size": s} for p, s in side]  # noqa: E731
    return _dumps({"channel": f"order_book:{market}", "offset": 41692800,
                   "order_book": {"code": 0, "asks": lv(asks), "bids": lv(bids), "offset": 41692800,
                                  "nonce": nonce, "begin_nonce": begin},
                   "timestamp": 1766434222500, "type": kind})


def lighter_feed() -> LighterMarketFeed:
    cat = LighterSymbols()
    cat.add("ETH", 0)
    feed = LighterMarketFeed("ws://127.0.0.1:9/stream", catalog=cat)
    feed.state("ETH")
    return feed


def model_sides(model: dict[str, dict[float, float]]):
    return sorted(model["bids"].items(), reverse=True), sorted(model["asks"].items())


async def test_lighter_recorded_deltas_equal_reference_model() -> None:
    rng = random.Random(3)
    mid = 3327.0
    model: dict[str, dict[float, float]] = {"bids": {}, "asks": {}}
    snap: dict[str, list[tuple[str, str]]] = {"bids": [], "asks": []}
    for side, sign in (("bids", -1), ("asks", 1)):
        for k in range(1, 201):
            p, s = f"{mid + sign * k * 0.01:.2f}", f"{rng.uniform(0.01, 40):.4f}"
            snap[side].append((p, s))
            model[side][float(p)] = float(s)
    feed = lighter_feed()
    nonce = 1000
    feed.handle_frame(lighter_frame("subscribed/order_book", snap["bids"], snap["asks"], nonce, 990))
    for _ in range(2000):
        ch: dict[str, list[tuple[str, str]]] = {"bids": [], "asks": []}
        for _ in range(rng.randint(1, 5)):
            side, sign = rng.choice((("bids", -1), ("asks", 1)))
            p = f"{mid + sign * rng.randint(1, 220) * 0.01:.2f}"
            s = "0.0000" if rng.random() < 0.25 else f"{rng.uniform(0.01, 40):.4f}"
            ch[side].append((p, s))
            if float(s) > 0:
                model[side][float(p)] = float(s)
            else:
                model[side].pop(float(p), None)
        feed.handle_frame(lighter_frame("update/order_book", ch["bids"], ch["asks"], nonce + 7, nonce))
        nonce += 7
    book = feed.book("ETH")
    bids, asks = model_sides(model)
    assert book.bids() == bids and book.asks() == asks
    assert book.best_bid() == bids[0] and book.best_ask() == asks[0]
    assert book.sequence == nonce and feed.is_ready("ETH")


async def test_lighter_gap_crossed_unknown_and_malformed_frames() -> None:
    feed = lighter_feed()
    feed.handle_frame(lighter_frame("subscribed/order_book", [("100.00", "1.0")], [("101.00", "2.0")], 10, 5))
    assert feed.is_ready("ETH")
    # another market's delta, an unfollowed one: ignored, no state change
    feed.handle_frame(lighter_frame("update/order_book", [("50.00", "1.0")], [], 11, 10, market=7))
    assert feed.book("ETH").bids() == [(100.0, 1.0)]
    for bad in (b'{"type":"update/order_book","channel":"trade:0","order_book":{"nonce":1}}',
                b'{"type":"update/order_book","channel":"order_book:x","order_book":{"nonce":1}}',
                b'{"type":"update/order_book","channel":"order_book:0"}',
                b'{"type":"update/order_book","channel":"order_book:0","order_book":{"nonce":"z"}}',
                b'{"type":"nope","channel":"order_book:0"}', b"not json"):
        with pytest.raises((ValueError, msgspec.DecodeError)):
            feed.handle_frame(bad)
    assert feed.is_ready("ETH")
    # nonce gap -> invalidated, later deltas ignored until a snapshot
    feed.handle_frame(lighter_frame("update/order_book", [("99.00", "1.0")], [], 30, 20))
    assert not feed.is_ready("ETH") and feed.state("ETH").book.empty
    feed.handle_frame(lighter_frame("update/order_book", [("99.00", "1.0")], [], 31, 30))
    assert feed.state("ETH").book.empty
    feed.handle_frame(lighter_frame("subscribed/order_book", [("100.00", "1.0")], [("101.00", "2.0")], 40, 35))
    assert feed.is_ready("ETH")
    # crossed after a delta -> invalidated
    feed.handle_frame(lighter_frame("update/order_book", [("102.00", "1.0")], [], 41, 40))
    assert not feed.is_ready("ETH")
    await asyncio.sleep(0)  # let the resync tasks run (no socket: they return at once)


def aster_frame(bids, asks, u: int) -> bytes:
    """A combined-stream ``depth20@100ms`` frame (docs/exchanges/aster.md §4.6)."""
    return _dumps({"stream": "btcusdt@depth20@100ms",
                   "data": {"e": "depthUpdate", "E": 1754556878284, "T": 1754556878031, "s": "BTCUSDT",
                            "U": u - 5, "u": u, "pu": u - 9, "b": bids, "a": asks}})


async def test_aster_depth20_frames_replace_the_book() -> None:
    rng = random.Random(5)
    feed = AsterMarketFeed("ws://127.0.0.1:9")
    feed.subscribe_frames("BTC")
    feed.state("BTC")
    for u in range(1, 300):
        bid0 = 114988.0 + rng.randint(-20, 20) * 0.1
        bids = [[f"{bid0 - i * 0.1:.1f}", "0.000" if rng.random() < 0.05 else f"{rng.uniform(0.001, 5):.3f}"]
                for i in range(20)]
        asks = [[f"{bid0 + (i + 1) * 0.1:.1f}", f"{rng.uniform(0.001, 5):.3f}"] for i in range(20)]
        rng.shuffle(asks)  # order on the wire does not matter
        feed.handle_frame(aster_frame(bids, asks, u))
        book = feed.book("BTC")
        assert book.bids() == sorted(((float(p), float(s)) for p, s in bids if float(s) > 0), reverse=True)
        assert book.asks() == sorted((float(p), float(s)) for p, s in asks)
        assert book.sequence == u
    # crossed snapshot: not served
    feed.handle_frame(aster_frame([["101.0", "1"]], [["100.0", "1"]], 400))
    assert not feed.is_ready("BTC")
    # crossed only once built (best levels not sent first): staged, but never served, and resynced
    feed.handle_frame(aster_frame([["99.0", "1"]], [["100.0", "1"]], 401))
    assert feed.book("BTC").best_bid() == (99.0, 1.0)
    resyncs = feed.resyncs
    feed.handle_frame(aster_frame([["99.0", "1"], ["100.5", "2"]], [["100.0", "1"], ["101.0", "1"]], 402))
    with pytest.raises(StaleMarketData, match="crossed"):
        feed.book("BTC")
    assert feed.resyncs == resyncs + 1 and not feed.is_ready("BTC")
    with pytest.raises(msgspec.ValidationError):
        feed.handle_frame(aster_frame([["x", "1"]], [], 401))
    # a bad level past the first is found when the book is built (levels are decoded on read):
    # not served, resynced
    feed.handle_frame(aster_frame([["99.0", "1"], ["98.0", "x"]], [["100.0", "1"]], 403))
    resyncs = feed.resyncs
    with pytest.raises(StaleMarketData, match="malformed"):
        feed.book("BTC")
    assert feed.resyncs == resyncs + 1 and not feed.is_ready("BTC")
    # the next good frame is served again
    feed.handle_frame(aster_frame([["99.0", "1"]], [["100.0", "1"]], 404))
    assert feed.book("BTC").best_ask() == (100.0, 1.0)
    await asyncio.sleep(0)


levels = st.lists(st.tuples(st.integers(1, 60).map(lambda i: i / 4),
                            st.one_of(st.just(0.0), st.integers(1, 100).map(lambda i: i / 10))), max_size=30)


@settings(max_examples=200, deadline=None)
@given(levels, levels, st.lists(st.tuples(levels, levels), max_size=8))
def test_apply_levels_equals_set_bid_set_ask(snap_b, snap_a, batches) -> None:
    """The inlined ``apply_levels`` loop and the per-level setters build identical books."""
    fast, slow = OrderBook("X"), OrderBook("X")
    fast.apply_snapshot(snap_b, snap_a, 1)
    slow.apply_snapshot(list(snap_b), list(snap_a), 1)
    for i, (b, a) in enumerate(batches):
        fast.apply_levels(b, a, i + 2)
        for p, s in b:
            slow.set_bid(p, s)
        for p, s in a:
            slow.set_ask(p, s)
        assert fast.bids() == slow.bids() and fast.asks() == slow.asks()
        assert fast.best_bid() == slow.best_bid() and fast.best_ask() == slow.best_ask()
        assert fast.sequence == i + 2 and len(fast) == len(slow)
