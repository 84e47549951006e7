"""Benchmark: per-message cost of the Lighter and Aster market-data feed hot paths.

Frames are generated in the exact wire shapes of docs/exchanges/lighter.md §4.3 and docs/exchanges/aster.md §4.6
(recorded format, seeded, not random per run):

* **Lighter** ``update/order_book`` deltas on a 200-level-per-side book (ETH-like, tick 0.01, size
  to 4 decimals), 1-5 changed levels per message (~3 on average, 20 % deletes, the rest size
  changes and new levels near the touch), chained with ``begin_nonce`` = previous ``nonce``,
  preceded by one ``subscribed/order_book`` snapshot;
* **Aster** ``depthUpdate`` top-20 partial snapshots (``btcusdt@depth20@100ms``) wrapped in the
  combined-stream envelope ``{"stream": ..., "data": {...}}`` exactly as ``/stream`` delivers them.

For each message type it measures, in µs per message (best of ``--repeat`` passes):

(a) ``orjson.loads(frame)`` alone (the floor the issue's targets are expressed against);
(b) msgspec decode alone, into the feed's own schema (what ``handle_frame`` decodes into);
(c) the real perpdex path: ``LighterMarketFeed.handle_frame(bytes)`` /
    ``AsterMarketFeed.handle_frame(bytes)`` on a feed whose symbol is subscribed in memory (no
    socket: the symbol state is created with ``feed.state()``, the snapshot frame makes it ready);
    for Aster, whose depth20 book is built on first read, also (c') every frame followed by a read
    of the served book's best bid and ask (the worst case: every snapshot gets built);
(d) ccxt.pro's own handling (ccxt 4.5.90): its WebSocket client's
    ``handle_text_or_binary_message(text)``, i.e. ``orjson.loads`` + ``exchange.handle_message``
    into ccxt's ``OrderBook`` (``ccxt.pro.lighter`` / ``ccxt.pro.aster``), on a client created by
    ``exchange.client(url)`` and never connected.

As a reference it also times a naive book (``orjson`` dicts -> ``Decimal`` dicts, both sides
re-sorted after every message). It also measures (e) the memory held by a 200+200-level book:
``perpdex.book.OrderBook`` vs ccxt's ``OrderBook``, both built from the same wire snapshot, by tracemalloc (bytes still allocated after
the frame and every temporary are dropped) and by a deep ``sys.getsizeof`` walk.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_feeds.py``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import orjson

from perpdex.book import OrderBook
from perpdex.exchanges.aster import schemas as aster_schemas
from perpdex.exchanges.aster.feed import AsterMarketFeed
from perpdex.exchanges.lighter import schemas as lighter_schemas
from perpdex.exchanges.lighter.feed import LighterMarketFeed
from perpdex.exchanges.lighter.symbols import LighterSymbols

LIGHTER_LEVELS = 200
LIGHTER_TICK = 0.01
LIGHTER_MID = 3327.0
ASTER_TICK = 0.1
ASTER_MID = 114988.0


# -- recorded-format frames ---------------------------------------------------------------------------
def lighter_frames(n: int, seed: int = 11) -> tuple[bytes, list[bytes]]:
    """(snapshot frame, ``n`` chained delta frames) for market 0 (ETH), as the server sends them."""
    rng = random.Random(seed)
    ticks = {"bids": -1, "asks": 1}
    book = {side: {k: round(rng.uniform(0.05, 40.0), 4) for k in range(1, LIGHTER_LEVELS + 1)} for side in ticks}

    def px(side: str, k: int) -> str:
        return f"{LIGHTER_MID + ticks[side] * k * LIGHTER_TICK:.2f}"

    def levels(side: str, items) -> list[dict[str, str]]:
        return [{"price": px(side, k), "size": f"{s:.4f}"} for k, s in items]

    nonce, offset, ts = 4037957034, 41692800, 1766434222500
    snap = {
        "channel": "order_book:0", "offset": offset,
        "order_book": {"code": 0,
                       "asks": levels("asks", sorted(book["asks"].items())),
                       "bids": levels("bids", sorted(book["bids"].items())),
                       "offset": offset, "nonce": nonce, "begin_nonce": nonce - 34},
        "timestamp": ts, "type": "subscribed/order_book",
    }
    out = []
    for _ in range(n):
        changed: dict[str, dict[int, float]] = {"bids": {}, "asks": {}}
        for _ in range(rng.choice((1, 2, 3, 3, 4, 5))):
            side = rng.choice(("bids", "asks"))
            k = 1 + min(int(rng.expovariate(1 / 5)), LIGHTER_LEVELS + 20)
            if k in book[side] and rng.random() < 0.2:
                size = 0.0
                del book[side][k]
            else:
                size = round(rng.uniform(0.05, 40.0), 4)
                book[side][k] = size
            changed[side][k] = size
        begin, nonce = nonce, nonce + rng.randint(1, 40)
        offset += rng.randint(1, 64)
        ts += 50
        out.append({
            "channel": "order_book:0", "offset": offset,
            "order_book": {"code": 0,
                           "asks": levels("asks", changed["asks"].items()),
                           "bids": levels("bids", changed["bids"].items()),
                           "offset": offset, "nonce": nonce, "begin_nonce": begin},
            "timestamp": ts, "type": "update/order_book",
        })
    # the server's compact separators: json.dumps(..., separators) gives the wire bytes
    enc = lambda o: json.dumps(o, separators=(",", ":")).encode()  # noqa: E731
    return enc(snap), [enc(f) for f in out]


def aster_frames(n: int, seed: int = 12) -> list[bytes]:
    """``n`` combined-stream ``btcusdt@depth20@100ms`` partial snapshots (20 levels per side)."""
    rng = random.Random(seed)
    mid = ASTER_MID
    u = 156391349814
    t = 1754556878031
    out = []
    for _ in range(n):
        mid += rng.choice((-1, 0, 0, 1)) * ASTER_TICK
        bid0 = mid - ASTER_TICK * rng.randint(0, 2)
        ask0 = bid0 + ASTER_TICK * rng.randint(1, 3)
        bids, asks = [], []
        p = bid0
        for _ in range(20):
            bids.append([f"{p:.1f}", f"{rng.uniform(0.001, 5.0):.3f}"])
            p -= ASTER_TICK * rng.randint(1, 3)
        p = ask0
        for _ in range(20):
            asks.append([f"{p:.1f}", f"{rng.uniform(0.001, 5.0):.3f}"])
            p += ASTER_TICK * rng.randint(1, 3)
        pu, U = u, u + rng.randint(1, 50)
        u = U + rng.randint(0, 200)
        t += 100
        data = {"e": "depthUpdate", "E": t + 253, "T": t, "s": "BTCUSDT", "U": U, "u": u, "pu": pu, "b": bids, "a": asks}
        out.append(json.dumps({"stream": "btcusdt@depth20@100ms", "data": data}, separators=(",", ":")).encode())
    return out


# -- timing --------------------------------------------------------------------------------------------
def per_message_us(fn: Callable[[bytes], Any], frames: list[bytes], repeat: int, setup: Callable[[], None] | None = None) -> float:
    """Best-of-``repeat`` wall time of ``fn`` over every frame, in µs per message."""
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        for f in frames:
            fn(f)
        best = min(best, time.perf_counter() - t0)
    return best / len(frames) * 1e6


_CCXT: list[Any] = []  # ccxt exchanges to close at the end (never connected)


def ccxt_lighter():
    import ccxt.pro as ccxtpro

    ex = ccxtpro.lighter()
    ex.set_markets([{"id": "0", "symbol": "ETH/USDC:USDC", "base": "ETH", "quote": "USDC", "settle": "USDC",
                     "type": "swap", "swap": True, "spot": False, "contract": True, "active": True,
                     "precision": {"price": 0.01, "amount": 0.0001}, "limits": {}}])
    client = ex.client("wss://mainnet.zklighter.elliot.ai/stream")
    _CCXT.append(ex)
    return ex, client


def ccxt_aster():
    import ccxt.pro as ccxtpro

    ex = ccxtpro.aster()
    ex.set_markets([{"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
                     "type": "swap", "swap": True, "spot": False, "contract": True, "active": True,
                     "precision": {"price": 0.1, "amount": 0.001}, "limits": {}}])
    client = ex.client("wss://fstream.asterdex.com/stream")
    _CCXT.append(ex)
    return ex, client


class NaiveDecimalBook:
    """The issue's reference point: ``json`` dicts -> ``Decimal`` price/size dicts, both sides
    re-sorted after every message (what a straightforward implementation does)."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.sorted_bids: list[tuple[Decimal, Decimal]] = []
        self.sorted_asks: list[tuple[Decimal, Decimal]] = []

    def _resort(self) -> None:
        self.sorted_bids = sorted(self.bids.items(), reverse=True)
        self.sorted_asks = sorted(self.asks.items())

    def lighter(self, frame: bytes) -> None:
        msg = orjson.loads(frame)
        body = msg["order_book"]
        if msg["type"] == "subscribed/order_book":
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, body["bids"]), (self.asks, body["asks"])):
            for lv in levels:
                p, s = Decimal(lv["price"]), Decimal(lv["size"])
                if s:
                    side[p] = s
                else:
                    side.pop(p, None)
        self._resort()

    def aster(self, frame: bytes) -> None:
        data = orjson.loads(frame)["data"]
        self.bids = {Decimal(p): Decimal(s) for p, s in data["b"] if Decimal(s)}
        self.asks = {Decimal(p): Decimal(s) for p, s in data["a"] if Decimal(s)}
        self._resort()


def lighter_feed() -> LighterMarketFeed:
    cat = LighterSymbols()
    cat.add("ETH", 0)
    feed = LighterMarketFeed("ws://127.0.0.1:9/stream", catalog=cat)
    feed.state("ETH")  # subscribed in memory: handle_frame only needs the symbol's state
    return feed


def aster_feed() -> AsterMarketFeed:
    feed = AsterMarketFeed("ws://127.0.0.1:9")
    feed.subscribe_frames("BTC")  # registers BTCUSDT -> BTC, exactly as the subscribe path does
    feed.state("BTC")
    return feed


def aster_frame_then_read(feed: AsterMarketFeed) -> Callable[[bytes], Any]:
    """Worst case of the lazily built depth20 book: every frame is read (served book + best bid
    and ask) before the next one arrives, so every snapshot is built."""
    handle, book = feed.handle_frame, feed.book

    def step(frame: bytes) -> None:
        handle(frame)
        b = book("BTC")
        b.best_bid()
        b.best_ask()

    return step


# -- memory --------------------------------------------------------------------------------------------
def deep_sizeof(obj: Any, skip: tuple[type, ...] = ()) -> int:
    """Bytes reachable from ``obj`` (each object once; classes, modules, functions skipped)."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (type, type(sys), type(deep_sizeof))) or isinstance(o, skip):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    return total


def traced_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    """(object, bytes still allocated once ``build`` returned and its temporaries were freed)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    obj = build()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return obj, used


def memory(snapshot: bytes) -> dict[str, tuple[int, int, int]]:
    """{name: (levels, tracemalloc bytes, deep sizeof bytes)} for a 200+200-level book."""
    out = {}

    def build_perpdex() -> OrderBook:
        body = lighter_schemas.ws_frame.decode(snapshot).order_book
        book = OrderBook("ETH")
        book.apply_snapshot([(lv.price, lv.size) for lv in body.bids], [(lv.price, lv.size) for lv in body.asks])
        return book

    book, used = traced_bytes(build_perpdex)
    out["perpdex OrderBook"] = (len(book), used, deep_sizeof(book))

    ex, client = ccxt_lighter()

    def build_ccxt():
        ex.handle_message(client, orjson.loads(snapshot))
        return ex.orderbooks["ETH/USDC:USDC"]

    ob, used = traced_bytes(build_ccxt)
    out["ccxt OrderBook"] = (len(ob["bids"]) + len(ob["asks"]), used, deep_sizeof(ob))

    try:
        from sortedcontainers import SortedDict
    except ImportError:  # pragma: no cover - optional reference point
        return out
    body = orjson.loads(snapshot)["order_book"]

    def build_sorted():
        bids = SortedDict({float(lv["price"]): float(lv["size"]) for lv in body["bids"]})
        asks = SortedDict({float(lv["price"]): float(lv["size"]) for lv in body["asks"]})
        return bids, asks

    (sb, sa), used = traced_bytes(build_sorted)
    out["float SortedDict x2 (reference)"] = (len(sb) + len(sa), used, deep_sizeof((sb, sa)))
    return out


# -- main ----------------------------------------------------------------------------------------------
async def run(n: int, repeat: int) -> dict[str, Any]:
    logging.getLogger("perpdex").setLevel(logging.ERROR)
    res: dict[str, Any] = {}

    snap, deltas = lighter_frames(n)
    feed = lighter_feed()

    def reset_lighter() -> None:
        feed.handle_frame(snap)  # fresh snapshot: the delta chain starts at its nonce

    reset_lighter()
    assert feed.is_ready("ETH"), "lighter snapshot did not make the book ready"
    lx, lclient = ccxt_lighter()

    def reset_ccxt_lighter() -> None:
        lclient.handle_text_or_binary_message(snap.decode())

    ltext = [d.decode() for d in deltas]
    wire_dec = lighter_schemas.ws_frame.decode
    res["lighter"] = {
        "orjson.loads": per_message_us(orjson.loads, deltas, repeat),
        "msgspec decode": per_message_us(wire_dec, deltas, repeat),
        "perpdex feed": per_message_us(feed.handle_frame, deltas, repeat, reset_lighter),
        "ccxt.pro": per_message_us(lclient.handle_text_or_binary_message, ltext, repeat, reset_ccxt_lighter),
    }
    naive = NaiveDecimalBook()
    res["lighter"]["naive Decimal dict"] = per_message_us(naive.lighter, deltas, repeat, lambda: naive.lighter(snap))
    st = feed.state("ETH")
    assert st.ready.is_set() and feed.frames_dropped == 0, "lighter feed dropped or invalidated the book"
    check_same_book(feed.book("ETH"), lx.orderbooks["ETH/USDC:USDC"])
    res["lighter_levels"] = len(feed.book("ETH"))
    res["lighter_delta_bytes"] = sum(map(len, deltas)) / len(deltas)
    res["lighter_levels_changed"] = sum(
        len(f.order_book.bids) + len(f.order_book.asks) for f in map(wire_dec, deltas)) / len(deltas)

    frames = aster_frames(n)
    afeed = aster_feed()
    ax, aclient = ccxt_aster()
    atext = [f.decode() for f in frames]
    adec = msgspec.json.Decoder(aster_schemas.StreamEnvelope, strict=False).decode
    res["aster"] = {
        "orjson.loads": per_message_us(orjson.loads, frames, repeat),
        "msgspec decode": per_message_us(adec, frames, repeat),
        "perpdex feed": per_message_us(afeed.handle_frame, frames, repeat),
        "perpdex feed + read": per_message_us(aster_frame_then_read(afeed), frames, repeat),
        "ccxt.pro": per_message_us(aclient.handle_text_or_binary_message, atext, repeat),
        "naive Decimal dict": per_message_us(NaiveDecimalBook().aster, frames, repeat),
    }
    assert afeed.state("BTC").ready.is_set() and afeed.frames_dropped == 0
    check_same_book(afeed.book("BTC"), ax.orderbooks["BTC/USDT:USDT"])
    res["aster_frame_bytes"] = sum(map(len, frames)) / len(frames)

    res["memory"] = memory(snap)
    for ex in _CCXT:
        await ex.close()
    return res


def check_same_book(book: OrderBook, ob: Any) -> None:
    """The perpdex and ccxt books end identical after the same messages (a sanity check that
    both paths really did the work being timed)."""
    assert book.bids() == [tuple(x) for x in ob["bids"]], "bids differ from ccxt's"
    assert book.asks() == [tuple(x) for x in ob["asks"]], "asks differ from ccxt's"


TARGETS = {  # the figures on its 2-core CPython 3.11 box, µs per message
    "lighter": {"orjson.loads": 1.6, "ccxt.pro": 22.0, "naive Decimal dict": 142.0, "max x floor": 2.0},
    "aster": {"orjson.loads": 6.0, "ccxt.pro": 92.0, "naive Decimal dict": 47.0, "max x floor": 1.5},
}


def report(res: dict[str, Any], n: int, repeat: int) -> None:
    print(f"# perpdex feed benchmark - {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {platform.machine()} {platform.processor() or ''} cpus={_cpus()} Python {platform.python_version()}"
          f" msgspec {msgspec.__version__} orjson {orjson.__version__} ccxt {_ccxt_version()}")
    print(f"# {n} messages per pass, best of {repeat}")
    print(f"lighter delta: {res['lighter_delta_bytes']:.0f} B, {res['lighter_levels_changed']:.2f} levels changed,"
          f" book {res['lighter_levels']} levels; aster depth20 frame: {res['aster_frame_bytes']:.0f} B")
    for kind in ("lighter", "aster"):
        r = res[kind]
        floor = r["orjson.loads"]
        print(f"\n{kind:22s} {'us/msg':>8s} {'x floor':>8s}")
        for name, us in r.items():
            print(f"  {name:20s} {us:8.2f} {us / floor:8.2f}")
        t = TARGETS[kind]
        feed_us = r["perpdex feed"]
        print(f"  target: <= {t['max x floor']}x floor -> {'MET' if feed_us <= t['max x floor'] * floor else 'NOT MET'}"
              f" ({feed_us / floor:.2f}x); ccxt.pro / perpdex = {r['ccxt.pro'] / feed_us:.1f}x")
    print("\nbook memory (200+200 levels)      levels  tracemalloc  deep sizeof")
    for name, (lv, tm, ds) in res["memory"].items():
        print(f"  {name:32s} {lv:6d} {tm / 1000:9.1f} KB {ds / 1000:9.1f} KB")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _ccxt_version() -> str:
    import ccxt

    return ccxt.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000, help="messages per pass (default 20000)")
    ap.add_argument("--repeat", type=int, default=5, help="passes; the best is kept (default 5)")
    args = ap.parse_args()
    res = asyncio.run(run(args.n, args.repeat))
    report(res, args.n, args.repeat)


if __name__ == "__main__":
    main()
