"""E06 through the atomic executor: fills that the user-data stream reports before the REST order
polls do are counted once, and a leg never sends again what already filled.

Both clients of each pair run their user streams (connected) against the emulators on loopback;
pairs are opened and closed several times with the limit-then-market tactic: a limit order at the
touch that the market fills passively (the private fill frame then reaches the stream a few ms
after the fill, usually before the next REST poll), the market fallback for what did not fill.
The fill callback persists to SQLite behind a slow store (``SLOW_STORE_S``), so a fill the stream
recorded first is still being persisted when the REST poll reports the order filled: the poll adds
nothing new to the ledger, and the leg must take that fill from the ledger
(``LegExecutor.absorb_known``) or it would send the whole quantity again as a market order.

Checked against the emulator's own accounts after every open and close: each leg's orders filled
exactly its quantity, every order was sent while the leg still needed it, the ledger holds each
trade once (per order, what the emulator filled), the stored fills add up to the positions, and
the positions equal the targets.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select

from perpdex.execution.atomic import AtomicPairExecutor, ExecutionConfig, PairResult
from perpdex.execution.fills import FillRecord
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.sizing import common_step, round_down
from perpdex.execution.tactics import TacticConfig
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from perpdex.storage.models import FillRow
from tests.execution.emulated import engine_orders, engine_position, make_client

D = Decimal
EXCHANGES = ("aster", "lighter", "backpack", "paradex")
# (long, short, symbol); the pairs of one group share no exchange and run at the same time
GROUPS = [
    [("aster", "lighter", "DOGE"), ("backpack", "paradex", "XRP")],
    [("lighter", "backpack", "SOL"), ("paradex", "aster", "AAVE")],
]
CYCLES = 3  # open + close per pair
NOTIONAL = D(40)  # USD per leg
SLOW_STORE_S = 0.05  # what persisting one fill takes (longer than a REST poll interval)
TACTIC = TacticConfig(offset_ticks=0, reprice_retries=0, limit_timeout_s=0.6, order_timeout_s=2.0,
                      poll_interval_s=0.02)


class Pair:
    def __init__(self, cluster, clients, store: Store, long: str, short: str, symbol: str) -> None:
        self.cluster, self.clients, self.store = cluster, clients, store
        self.long, self.short, self.symbol = long, short, symbol
        self.venues = {n: cluster.sim.venue(n) for n in (long, short)}
        self.stream_fills = 0

    async def sink_for(self, position_id: int):
        async def sink(f: FillRecord) -> None:
            await asyncio.sleep(SLOW_STORE_S)
            await self.store.add_fill(position_id, "test", exchange=f.exchange, symbol=f.symbol, side=f.side.value,
                                      quantity=f.qty, price=f.price, fee=f.fee, liquidity=f.liquidity,
                                      order_id=f.order_id)
        return sink

    async def run(self) -> None:
        sym = self.symbol
        long_c, short_c = self.clients[self.long], self.clients[self.short]
        la, sa = await long_c.contract_attributes(sym), await short_c.contract_attributes(sym)
        _, ask = await long_c.fetch_bbo_prices(sym)
        qty = round_down(NOTIONAL / ask * la.multiplier, common_step(la.canonical_lot, sa.canonical_lot))
        lq, sq = qty / la.multiplier, qty / sa.multiplier
        ex = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC, unhedged_timeout_s=1.0))
        for cycle in range(CYCLES):
            row = await self.store.create_position(symbol=sym, long_exchange=self.long, short_exchange=self.short,
                                                   status="opening", quantity=qty, leverage=D(1))
            sink = await self.sink_for(row.id)
            before = self.snapshot()
            res = await ex.open(long_c, short_c, sym, lq, sq, on_fill=sink)
            await self.check(f"open {cycle}", res, before, {self.long: ("buy", lq), self.short: ("sell", sq)})
            before = self.snapshot()
            res = await ex.close(long_c, short_c, sym, lq, sq, on_fill=sink)
            await self.check(f"close {cycle}", res, before, {self.long: ("sell", lq), self.short: ("buy", sq)})

    def snapshot(self) -> dict[str, tuple[set[int], Decimal]]:
        return {n: (set(engine_orders(v, self.symbol)), engine_position(v, D(1), self.symbol))
                for n, v in self.venues.items()}

    async def check(self, what: str, res: PairResult, before, legs: dict[str, tuple[str, Decimal]]) -> None:
        what = f"{self.symbol} {self.long}->{self.short} {what}: {res.reason}"
        assert res.success and not res.rollback and not res.naked, f"{what}: repairs {res.rollback}"
        assert res.ledger is not None
        for n, (side, want) in legs.items():
            v, (old_ids, old_pos) = self.venues[n], before[n]
            new = sorted((i, o) for i, o in engine_orders(v, self.symbol).items() if i not in old_ids)
            assert new and all(o.side == side for _, o in new), f"{what}: {n} orders {new}"
            done = D(0)
            for _, o in new:  # an order goes out only for what the leg still needs
                assert done < want, f"{what}: {n} sent {o} after {done} of {want} had filled ({len(new)} orders)"
                done += D(str(o.filled))
            assert done == want, f"{what}: {n} {side} filled {done} for a leg of {want}"
            leg = res.long if n == self.long else res.short
            assert leg.orders_sent == len(new) and leg.filled == want, (
                f"{what}: {n} leg counted {leg.orders_sent} orders / {leg.filled} filled, emulator {len(new)} / {done}")
            # the ledger holds each trade once: per order, what the emulator says it filled
            recorded: dict[str, Decimal] = defaultdict(Decimal)
            for f in res.ledger.fills:
                if f.exchange == n:
                    assert f.order_id is not None, f"{what}: {n} fill inferred from the position: {f}"
                    recorded[f.order_id] += f.qty
                    self.stream_fills += f.source == "stream"
            trade_ids = [f.trade_id for f in res.ledger.fills if f.exchange == n and f.trade_id is not None]
            assert len(trade_ids) == len(set(trade_ids)), f"{what}: {n} trade recorded twice: {trade_ids}"
            assert sorted(recorded.values()) == sorted(D(str(o.filled)) for _, o in new if o.filled > 0), (
                f"{what}: {n} ledger per order {dict(recorded)}, emulator {[(i, o.filled) for i, o in new]}")
            moved = engine_position(v, D(1), self.symbol) - old_pos
            assert moved == want * (1 if side == "buy" else -1), f"{what}: {n} position moved {moved}"
            assert res.positions[n] == engine_position(v, D(1), self.symbol), f"{what}: {n} read {res.positions}"
        await self.check_store(what)

    async def check_store(self, what: str) -> None:
        """Every fill persisted once: the stored fills of each exchange add up to its position."""
        stored: dict[str, Decimal] = defaultdict(Decimal)
        async with self.store.sessions() as s:
            for exchange, side, q in (await s.execute(
                    select(FillRow.exchange, FillRow.side, FillRow.quantity).where(FillRow.symbol == self.symbol))).all():
                stored[exchange] += q if side == "buy" else -q
        for n, v in self.venues.items():
            assert stored[n] == engine_position(v, D(1), self.symbol), f"{what}: {n} stored fills {stored[n]}"


async def test_E06_stream_fills_first_never_resend_a_leg(tmp_path) -> None:
    cluster = await start_emulators(list(EXCHANGES), seed=11)
    cluster.sim.tick = 0.02
    for n in EXCHANGES:
        cluster.sim.venue(n).passive_fill_prob = 1.0  # a limit order at the touch fills on the next tick
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'stream_fills.db'}")
    await store.init()
    clients = {n: make_client(cluster, n) for n in EXCHANGES}
    pairs = [[Pair(cluster, clients, store, *p) for p in group] for group in GROUPS]
    try:
        await asyncio.gather(*(c.connect() for c in clients.values()))
        symbols = sorted({p.symbol for group in pairs for p in group})
        for c in clients.values():
            for sym in symbols:
                await c.prepare_market_feed(sym)
            await c.start_user_stream(symbols)
        assert all(await asyncio.gather(*(c.feed.wait_ready(s, 10) for c in clients.values() for s in symbols)))
        assert all(await asyncio.gather(*(c.user_stream.wait_connected(10) for c in clients.values())))
        for group in pairs:
            await asyncio.gather(*(p.run() for p in group))
        streams = {n: c.user_stream.stats() for n, c in clients.items()}
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
        await store.close()
        await cluster.stop()
    stream_fills = sum(p.stream_fills for group in pairs for p in group)
    print(f"\nfills recorded from the user streams first: {stream_fills}; streams: {streams}")
    # the stream path was exercised: fills reached the ledger from the stream before REST
    assert stream_fills > 0
