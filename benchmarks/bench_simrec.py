"""Benchmark: installing a recorded book into an emulated venue (``sim.market: {recording: DIR}``).

What :class:`~perpdex.sim.recorded.RecordedMarket` does per new state of a replayed book:
``Venue.set_recorded_book`` (the makers' book replaced, the published book recomputed with the
accounts' resting orders, the delta diffed and emitted to the dialect's listeners, resting orders
the book crosses checked). The states are the default scenario's Lighter BTC ladder (``--levels``
a side) with two levels requoted per state, as the seeded market does each tick; measured with
no resting order and with ``--orders`` resting orders of one account on the market (best of
``--repeat``).

Run: ``.venv/bin/python benchmarks/bench_simrec.py [--states N] [--levels L] [--orders K]``.
Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time

from perpdex.sim.scenario import build_simulation


def states(n: int, levels: int, seed: int = 7) -> list[tuple[dict[float, float], dict[float, float]]]:
    sim = build_simulation(["lighter"])
    venue = sim.venue("lighter")
    venue.markets["BTC"].levels = levels
    venue._syn.pop("BTC", None)
    bids, asks = venue._synthetic_book("BTC")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        bids, asks = dict(bids), dict(asks)
        for side in (bids, asks):
            px = rng.choice(list(side))
            side[px] = round(side[px] * (0.7 + 0.6 * rng.random()), 5)
        out.append((bids, asks))
    return out


def run(book_states, orders: int) -> float:
    """Seconds per installed state."""
    sim = build_simulation(["lighter"])
    venue = sim.venue("lighter")
    sink: list[object] = []
    venue.subscribe(sink.append)  # a listener, as the dialect is
    bids0, _ = book_states[0]
    below = sorted(bids0, reverse=True)[5:5 + orders]
    for px in below:
        venue.place_order("bench", "BTC", "buy", 0.001, price=px, tif="post_only")
    t0 = time.perf_counter()
    for b, a in book_states:
        venue.set_recorded_book("BTC", dict(b), dict(a))
    return (time.perf_counter() - t0) / len(book_states)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--states", type=int, default=20_000)
    ap.add_argument("--levels", type=int, default=50)
    ap.add_argument("--orders", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    book_states = states(args.states, args.levels)
    print(f"python {sys.version.split()[0]} on {platform.machine()}; {args.states} states, "
          f"{args.levels} levels a side")
    for orders in (0, args.orders):
        best = min(run(book_states, orders) for _ in range(args.repeat))
        print(f"resting orders {orders:>2}: {best * 1e6:7.1f} µs per installed state "
              f"({1 / best:,.0f} states/s)")


if __name__ == "__main__":
    main()
