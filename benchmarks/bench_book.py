"""Benchmark: applying L2 deltas and reading the best bid/ask.

Compares perpdex.book.OrderBook with ccxt.pro's order book (ccxt.async_support.base.ws.order_book)
on the same recorded-like stream: a 1,500-level-per-side snapshot (Lighter ETH size) followed by
near-top deltas (90 % within 20 ticks of the touch, 20 % deletes), with a best bid/ask read after
every delta, as a trading loop does. Also a decode+apply run with msgspec on Lighter-shaped frames.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_book.py``). Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import platform
import random
import time

import msgspec
from ccxt.async_support.base.ws.order_book import OrderBook as CcxtOrderBook

from perpdex.book import OrderBook

TICK = 0.01
MID = 3900.0
LEVELS = 1500
N_DELTAS = 200_000


def make_stream(seed: int = 7):
    rng = random.Random(seed)
    bids = [(round(MID - (i + 1) * TICK, 2), rng.uniform(0.1, 40)) for i in range(LEVELS)]
    asks = [(round(MID + (i + 1) * TICK, 2), rng.uniform(0.1, 40)) for i in range(LEVELS)]
    deltas = []
    for _ in range(N_DELTAS):
        is_bid = rng.random() < 0.5
        k = int(rng.expovariate(1 / 6)) if rng.random() < 0.9 else rng.randrange(LEVELS)
        price = round(MID - (k + 1) * TICK, 2) if is_bid else round(MID + (k + 1) * TICK, 2)
        size = 0.0 if rng.random() < 0.2 else rng.uniform(0.1, 40)
        deltas.append((is_bid, price, size))
    return bids, asks, deltas


def bench_perpdex(bids, asks, deltas) -> float:
    book = OrderBook("ETH")
    book.apply_snapshot(bids, asks)
    set_bid, set_ask, best_bid, best_ask = book.set_bid, book.set_ask, book.best_bid, book.best_ask
    t0 = time.perf_counter()
    for is_bid, p, s in deltas:
        if is_bid:
            set_bid(p, s)
        else:
            set_ask(p, s)
        best_bid()
        best_ask()
    return time.perf_counter() - t0


def bench_ccxt(bids, asks, deltas) -> float:
    book = CcxtOrderBook({"bids": [list(x) for x in bids], "asks": [list(x) for x in asks]})
    b, a = book["bids"], book["asks"]
    t0 = time.perf_counter()
    for is_bid, p, s in deltas:
        (b if is_bid else a).store(p, s)
        b[0] if len(b) else None
        a[0] if len(a) else None
    return time.perf_counter() - t0


class Delta(msgspec.Struct):
    price: str
    size: str


class OB(msgspec.Struct):
    bids: list[Delta]
    asks: list[Delta]
    nonce: int
    begin_nonce: int


class Frame(msgspec.Struct):
    channel: str
    order_book: OB
    type: str


def bench_decode_apply(deltas) -> tuple[float, int]:
    enc = msgspec.json.Encoder()
    frames = []
    for i in range(0, 50_000, 5):
        chunk = deltas[i:i + 5]
        ob = {"bids": [{"price": f"{p:.2f}", "size": f"{s:.4f}"} for ib, p, s in chunk if ib],
              "asks": [{"price": f"{p:.2f}", "size": f"{s:.4f}"} for ib, p, s in chunk if not ib],
              "nonce": i + 5, "begin_nonce": i}
        frames.append(enc.encode({"channel": "order_book:0", "order_book": ob, "type": "update/order_book"}))
    dec = msgspec.json.Decoder(Frame)
    book = OrderBook("ETH")
    t0 = time.perf_counter()
    for raw in frames:
        f = dec.decode(raw).order_book
        book.apply_levels([(float(d.price), float(d.size)) for d in f.bids],
                          [(float(d.price), float(d.size)) for d in f.asks], f.nonce)
        book.best_bid()
    return time.perf_counter() - t0, len(frames)


def main() -> None:
    bids, asks, deltas = make_stream()
    print(f"python {platform.python_version()} on {platform.machine()}; {LEVELS} levels/side, {N_DELTAS:,} deltas")
    for name, fn in (("perpdex OrderBook", bench_perpdex), ("ccxt.pro OrderBook", bench_ccxt)):
        best = min(fn(bids, asks, deltas) for _ in range(3))
        print(f"{name:22s} {best * 1e9 / N_DELTAS:8.0f} ns per delta+BBO read   ({N_DELTAS / best:,.0f}/s)")
    t, n = min(bench_decode_apply(deltas) for _ in range(3))
    print(f"{'msgspec decode+apply':22s} {t * 1e6 / n:8.2f} us per 5-level frame ({n / t:,.0f} frames/s)")


if __name__ == "__main__":
    main()
