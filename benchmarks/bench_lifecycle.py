"""Benchmark: market-data lifecycle on the emulated exchanges (loopback).

* idle bandwidth: frames and bytes per minute for 2 symbols with the feed live vs paused;
* resume -> ready: time from ``resume_market_data_streams()`` to both books served;
* REST calls per execution: a market open+close through the PriceProvider with WebSocket books up
  vs paused (books down).

Run: ``.venv/bin/python benchmarks/bench_lifecycle.py`` (part of ``make bench``). Results:
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import platform
import statistics
import tempfile
import time
from decimal import Decimal

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.tactics import LegExecutor, TacticConfig
from perpdex.models import Side

WINDOW_S = 10.0
SYMBOLS = ("BTC", "ETH")


async def one(exchange: str) -> dict[str, float]:
    tmp = tempfile.mkdtemp()
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp}/b.db"}})
    out: dict[str, float] = {}
    async with runtime(cfg) as rt:
        client = rt.clients[exchange]
        await client.connect()
        for s in SYMBOLS:
            await client.prepare_market_feed(s)
        for s in SYMBOLS:
            await client.feed.wait_ready(s, 10)
        f = client.feed
        f0, b0 = f.frames_received, f.bytes_received
        await asyncio.sleep(WINDOW_S)
        out["live_frames_min"] = (f.frames_received - f0) * 60 / WINDOW_S
        out["live_kb_min"] = (f.bytes_received - b0) * 60 / WINDOW_S / 1024
        await client.pause_market_data_streams()
        f0, b0 = f.frames_received, f.bytes_received
        await asyncio.sleep(WINDOW_S)
        out["paused_frames_min"] = (f.frames_received - f0) * 60 / WINDOW_S
        out["paused_kb_min"] = (f.bytes_received - b0) * 60 / WINDOW_S / 1024
        lat = []
        for _ in range(5):
            t0 = time.perf_counter()
            await client.resume_market_data_streams()
            await asyncio.gather(*(f.wait_ready(s, 10) for s in SYMBOLS))
            lat.append((time.perf_counter() - t0) * 1000)
            await client.pause_market_data_streams()
        out["resume_ready_ms"] = statistics.median(lat)
        c = await client.contract_attributes("ETH")
        qty = c.round_size(Decimal(50) / Decimal(3900)) if c.min_size <= Decimal("0.02") else c.min_size
        qty = max(qty, c.min_size, c.round_size(Decimal(20) / Decimal(3900)) + c.lot_size)
        # count every book/BBO request that reaches REST: the PriceProvider's own, plus the
        # client's fallbacks (pre-checks, slippage caps) when its live book is not served
        client_rest = 0
        orig_depth, orig_bbo = client.fetch_order_book_rest, client.fetch_bbo_prices

        async def depth_rest(symbol, levels=10):
            nonlocal client_rest
            client_rest += 1
            return await orig_depth(symbol, levels)

        async def bbo(symbol):
            nonlocal client_rest
            if not f.is_ready(symbol):
                client_rest += 1
            return await orig_bbo(symbol)

        client.fetch_order_book_rest, client.fetch_bbo_prices = depth_rest, bbo
        for label, live in (("rest_calls_books_up", True), ("rest_calls_books_down", False)):
            prices = PriceProvider()
            if live:
                await client.resume_market_data_streams()
                await f.wait_ready("ETH", 10)
            else:
                await client.pause_market_data_streams()
            client_rest = 0
            leg = LegExecutor(client, prices, config=TacticConfig(limit_timeout_s=0.5))
            await leg.execute("ETH", Side.BUY, qty)  # limit at the touch, then market
            await leg.execute("ETH", Side.SELL, qty, reduce_only=True)
            out[label] = prices.rest_calls + client_rest
    return out


async def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}; {len(SYMBOLS)} symbols, {WINDOW_S:.0f}s windows")
    print(f"{'exchange':9s} {'live fr/min':>11s} {'live KB/min':>11s} {'paused fr/min':>13s} "
          f"{'resume->ready ms':>16s} {'REST/exec up':>12s} {'REST/exec down':>14s}")
    for ex in registry.names():
        r = await one(ex)
        print(f"{ex:9s} {r['live_frames_min']:11.0f} {r['live_kb_min']:11.1f} {r['paused_frames_min']:13.0f} "
              f"{r['resume_ready_ms']:16.1f} {r['rest_calls_books_up']:12.0f} {r['rest_calls_books_down']:14.0f}")


if __name__ == "__main__":
    asyncio.run(main())
