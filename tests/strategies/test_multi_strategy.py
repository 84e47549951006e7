"""Funding arbitrage and a grid in one process, sharing clients, user streams, store and runtime,
with Aster under both (issue 10): each strategy sees only its own orders, fills and positions.

The funding arb trades the default scenario's 0G pair (long Aster, short Lighter); the grid
trades ETH on Aster. Checked against the emulator's own books: the grid's stored fills are exactly
the emulator's fills of orders carrying the grid's client-id tag, the pair's stored fills exactly
the others; neither strategy's storage names the other's market.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.runtime.ids import tag_of
from perpdex.storage import Store
from perpdex.strategies.build import build_strategies
from perpdex.strategies.funding_arb import FundingArbStrategy
from perpdex.strategies.grid import GridStrategy

D = Decimal


async def test_funding_arb_and_grid_share_an_exchange_and_see_only_their_own(tmp_path):
    cfg = parse_config({
        "sim": {"enabled": True, "seed": 42, "funding_time_scale": 7200},
        "exchanges": {"aster": {}, "lighter": {}},
        "strategies": [
            {"kind": "funding_arb", "size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "scan_interval_s": 0.5,
             "limit_timeout_s": 1.0, "max_positions": 1, "min_volume_24h_usd": 1_000_000,
             "exit": {"max_age_s": 3600, "min_spread_apr": 0.05}},
            {"kind": "grid", "exchange": "aster", "symbol": "ETH", "order_notional_usd": 60, "take_profit": 0.0005,
             "max_orders": 3, "wait_time_s": 0.2, "cycle_interval_s": 0.2, "entry_timeout_s": 2},
        ],
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'both.db'}"},
    })
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        rt.cluster.sim.venue("aster").passive_fill_prob = 0.6
        arb, grid = build_strategies(cfg, rt, store)
        assert isinstance(arb, FundingArbStrategy) and isinstance(grid, GridStrategy)
        assert arb.runtime is grid.runtime  # one runtime, one set of clients and streams
        for s in (arb, grid):
            await s.start()
        stop = asyncio.Event()
        await asyncio.gather(arb.run(12, stop), grid.run(12, stop))
        await grid.orders.sync()
        await grid.orders.drain()
        await grid.stop()
        venue = rt.cluster.sim.venue("aster")
        engine_fills = [f for a in venue.accounts.values() for f in a.fills]
        orders = {o.id: o for a in venue.accounts.values() for o in a.orders.values()}

        pairs = await store.positions(strategy=arb.name)
        assert pairs and {p.symbol for p in pairs} == {"0G"}
        assert all((p.detail or {}).get("kind") != "grid" for p in pairs)
        grid_rows = await store.orders(grid.name)
        assert grid_rows and {(o.exchange, o.symbol) for o in grid_rows} == {("aster", "ETH")}
        assert all(grid.orders.ids.owns(o.client_order_id) for o in grid_rows)
        # every emulator fill of an order carrying the grid's tag is a stored grid fill, once; no other is
        tagged = sorted(str(f.trade_id) for f in engine_fills if tag_of(orders[f.order_id].client_id) == grid.orders.ids.tag)
        stored = sorted(f.trade_id for f in await store.order_fills(grid.name))
        missing = set(tagged) - set(stored)
        info = [(f.trade_id, f.order_id, orders[f.order_id].client_id, f.qty, orders[f.order_id].status)
                for f in engine_fills if str(f.trade_id) in missing]
        rows = [(o.client_order_id, o.order_id, o.status, o.filled, o.detail) for o in grid_rows]
        assert tagged and tagged == stored, (info, rows)
        assert all(orders[f.order_id].symbol == "ETH" for f in engine_fills
                   if tag_of(orders[f.order_id].client_id) == grid.orders.ids.tag)
        # the pair's limit orders carry the funding arb's tag (market orders carry no client id)
        arb_tags = {tag_of(o.client_id) for o in orders.values() if o.symbol == "0G" and o.client_id}
        assert arb_tags == {arb.client_ids.tag}
        # the pair's fills on aster are the others, all 0G
        pair_fills = [f for p in pairs for f in await store.fills(p.id) if f.exchange == "aster"]
        assert pair_fills and {f.symbol for f in pair_fills} == {"0G"}
        untagged_qty = sum((D(str(f.qty)) for f in engine_fills if orders[f.order_id].symbol == "0G"), D(0))
        assert sum((f.quantity for f in pair_fills), D(0)) == untagged_qty
        # the grid's position is its own: the emulator's ETH position, nothing of the pair's 0G
        eth = sum((D(str(p.qty)) for a in venue.accounts.values() for s, p in a.positions.items() if s == "ETH"), D(0))
        assert grid.orders.position == eth
    await store.close()
