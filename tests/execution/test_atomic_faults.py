"""Seeded randomized fault test of the atomic executor (issue 5) over the four emulated exchanges
on loopback: real clients (ccxt, signers), real SQLite storage, real emulator faults.

Each trial opens (or closes what the previous trial left) one ETH pair with one fault armed on a
random leg: the leg rejected, a partial fill of random size, the market sockets dropped mid-fill,
the order's answer lost, its answer delayed past the request timeout, 429s. Two lanes run at the
same time on disjoint exchange pairs; the pairs rotate so every exchange meets every other in
both directions. In every round one of the two lanes runs with the user-data streams of both its
clients started and connected (the executor then takes fills from the stream as well as from
REST), the other without; the streamed lanes also meet the user-stream faults: ``dup`` (the next
private fill frame sent twice) and ``user_drop`` (the next private fill frame lost and the
private socket closed), also on top of an order fault in a third of their trials, and half of
their trials persist fills slowly (the fill callback is still storing a fill the stream reported
when the REST poll reports it). After every trial, checked against the emulator's own books (not the
client's):

* net exposure of the pair <= one lot step (the larger canonical lot of the two markets);
* no open order left on either exchange;
* every fill accounted for in storage: the stored fills of each exchange add up to its position,
  and fills are only ever inferred from positions when an order's answer never came;
* retry fees within the cap;
* no leg trades more than asked: on each exchange, what the trial's orders filled in the leg's
  direction never exceeds the leg's quantity plus the quantities of the repairs sent in that
  direction (a leg that loses count of its fills sends the rest again);
* with no order fault armed (none, dup, user_drop) from a clean start (an open, or the close of a
  pair both of whose legs can trade), the pair completes: each leg moved by exactly its quantity,
  no hedge or rollback ran (unless the retry fee cap stopped a leg);
* never naked: a close that meets a leg below its market's minimum order size leaves a hedged
  dust pair (``PairResult.dust``; the net check above holds against what the executor set out to
  trade); the lane's next trial sweeps it (``sweep_dust``: both legs topped up and closed
  together, under that trial's fault), and every lane ends flat (dust swept at the end too);
* backstops on (``runtime/backstops.py``): after every trial the lane's legs get their backstops
  (in a quarter of the trials with the exchange refusing the stop once or twice: the
  ``stop_reject`` fault), and every leg the lane holds has exactly one resting reduce-only stop of
  its full size on its exchange, or none and a stored reason (never silently missing); no stop is
  ever larger than its leg; they are cancelled before the next trial trades and none is left at
  the end.

``PERPDEX_FAULT_TRIALS`` / ``PERPDEX_FAULT_SEED`` override the trial count (default 300) and seed.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal

from sqlalchemy import select

from perpdex.config import BackstopConfig
from perpdex.execution.atomic import AtomicPairExecutor, ExecutionConfig, PairResult
from perpdex.execution.fills import FillRecord
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.sizing import common_step, round_down
from perpdex.execution.tactics import TacticConfig
from perpdex.runtime.backstops import BackstopManager
from perpdex.runtime.core import TradingRuntime
from perpdex.runtime.ids import ClientIds
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from perpdex.storage.models import FillRow
from tests.execution.emulated import engine_orders, engine_position, make_client, traded

D = Decimal
TRIALS = int(os.environ.get("PERPDEX_FAULT_TRIALS", "300"))
SEED = int(os.environ.get("PERPDEX_FAULT_SEED", "5"))
NOTIONAL = D(40)  # USD per leg
# one symbol per lane, never shared between lanes: hedged dust a lane leaves (a partial fill below a
# market's minimum size cannot be traded there) never meets another lane's bookkeeping
SYMBOLS = ["0G", "2Z", "AAVE", "BTC", "CRV", "DOGE", "ETH", "INJ", "SOL", "XRP"]
EXCHANGES = ("aster", "lighter", "backpack", "paradex")
# two disjoint (long, short) pairs per round: every exchange meets every other, both directions
ROUNDS = [
    (("aster", "lighter"), ("backpack", "paradex")),
    (("lighter", "backpack"), ("paradex", "aster")),
    (("aster", "backpack"), ("lighter", "paradex")),
    (("lighter", "aster"), ("paradex", "backpack")),
    (("backpack", "lighter"), ("aster", "paradex")),
]
KINDS = ("none", "reject", "reject_all", "partial", "drop_on_fill", "ack_lost", "ack_late", "http429")
STREAM_KINDS = KINDS + ("dup", "user_drop")  # user-stream faults: only where the streams run
# faults that must not change the outcome at all (the stream is a second source; REST is enough)
HARMLESS = {"none", "dup", "user_drop"}
# fills may be inferred from positions only after an order got no answer (these faults, or a timeout)
ANSWERLESS = {"ack_lost", "ack_late"}
SWEEP_FEE_CAP = D(1)  # USD: the sweep's estimated fees (four small taker orders) stay far below it
SLOW_STORE_S = 0.03  # persisting one fill in the "slow store" trials
CAP = D("0.05")  # USD of retry fees in "tight cap" trials
# short timeouts and back-offs keep a trial ~0.1 s (ack_late: the answer comes 1.5 x the timeout late)
TACTIC = TacticConfig(offset_ticks=1, reprice_retries=1, limit_timeout_s=0.06, order_timeout_s=0.3,
                      poll_interval_s=0.02, rate_limit_backoff_s=0.01)


def arm(venue, rng: random.Random, kind: str, symbol: str) -> None:
    f = venue.faults
    if kind == "reject":
        f.inject("reject", symbol=symbol)
    elif kind == "reject_all":
        f.inject("reject", count=20, symbol=symbol)
    elif kind == "partial":
        f.inject("partial", count=rng.randint(1, 3), symbol=symbol, value=rng.choice([0.0, rng.random()]))
    elif kind == "drop_on_fill":
        f.inject("drop_on_fill", symbol=symbol)
    elif kind == "ack_lost":
        f.inject("ack_lost", symbol=symbol)
    elif kind == "ack_late":
        f.inject("ack_late", symbol=symbol, value=TACTIC.order_timeout_s * 1.5)
    elif kind == "http429":
        f.inject("http429", count=rng.randint(1, 3))
    elif kind in ("dup", "user_drop"):
        f.inject(kind, symbol=symbol)


class Lane:
    """One (long, short) pair worked by trials in sequence."""

    def __init__(self, cluster, clients, long: str, short: str, symbol: str, store: Store, stats,
                 streamed: bool = False) -> None:
        self.cluster, self.clients, self.long, self.short = cluster, clients, long, short
        self.symbol = symbol
        self.streamed = streamed
        self.kinds = STREAM_KINDS if streamed else KINDS
        self.extra = ""  # the user-stream fault armed on top of the trial's fault, for messages
        self.dust: list[str] = []
        self.dust_pair = False  # the last trial left a hedged dust pair: the next one sweeps it
        self.own: dict[str, Decimal] = {long: D(0), short: D(0)}
        self.store, self.stats = store, stats
        name = f"faults-{symbol.lower()}"
        self.backstops = BackstopManager(TradingRuntime(clients, store), name, BackstopConfig(), ClientIds(name))
        self.protected = None  # the lane's position row the backstops protect (status open)
        self.backstop_checks = 0

    async def protect(self, trial: int, rng: random.Random, mult: dict[str, Decimal]) -> None:
        """Backstops for what the lane holds now (a quarter of the time with the stop refused once
        or twice on a random leg), then the check: each held leg has exactly one resting
        reduce-only stop of its full size, or none and a stored reason; none larger than its leg."""
        held = {n: abs(self.own[n]) for n in (self.long, self.short)}
        size = max(held[n] * mult[n] for n in held)
        if self.protected is None:
            self.protected = await self.store.create_position(
                strategy=self.backstops.strategy, symbol=self.symbol, long_exchange=self.long,
                short_exchange=self.short, status="open", quantity=size, leverage=D(1))
        pos = self.protected = await self.store.update_position(self.protected.id, quantity=size)
        if rng.random() < 0.25:
            self.cluster.sim.venue(rng.choice((self.long, self.short))).faults.inject(
                "stop_reject", count=rng.choice((1, 2)), symbol=self.symbol)
        await self.backstops.sync_pair(pos)
        for v in (self.cluster.sim.venue(self.long), self.cluster.sim.venue(self.short)):
            v.faults.clear(self.symbol)
        current = await self.backstops.current(pos.id)
        for leg, n in (("long", self.long), ("short", self.short)):
            venue = self.cluster.sim.venue(n)
            stops = [o for a in venue.accounts.values() for o in venue.open_orders(a.id, self.symbol)
                     if o.status == "untriggered"]
            attrs = await self.clients[n].contract_attributes(self.symbol)
            what = f"trial {trial} (seed {SEED}, {self.symbol} {self.long}->{self.short}) {leg} leg on {n}"
            assert all(o.reduce_only and D(str(o.qty)) <= held[n] for o in stops), f"{what}: {stops} vs {held[n]}"
            if held[n] >= attrs.min_size and held[n] > 0:
                row = current.get(leg)
                if stops:
                    assert len(stops) == 1 and D(str(stops[0].qty)) == held[n], f"{what}: {stops} vs {held[n]}"
                    assert row is not None and row.state == "resting" and row.quantity == held[n], (what, row)
                else:
                    assert row is not None and row.state in ("failed", "none") and row.reason, (
                        f"{what}: no backstop and no reason ({row and row.state})")
            else:
                assert not stops, f"{what}: a stop for a leg of {held[n]}"
        self.backstop_checks += 1

    async def run(self, trials: list[int]) -> None:
        symbol = self.symbol
        la = await self.clients[self.long].contract_attributes(symbol)
        sa = await self.clients[self.short].contract_attributes(symbol)
        step = common_step(la.canonical_lot, sa.canonical_lot)
        bid, ask = await self.clients[self.long].fetch_bbo_prices(symbol)
        qty = round_down(NOTIONAL / ask * la.multiplier, step)
        tol = max(la.canonical_lot, sa.canonical_lot)
        mult = {self.long: la.multiplier, self.short: sa.multiplier}
        venues = {n: self.cluster.sim.venue(n) for n in (self.long, self.short)}
        self.start_net = sum(engine_position(v, mult[n], symbol) for n, v in venues.items())
        for trial in trials:
            rng = random.Random(f"{SEED}:{trial}")
            kind = rng.choice(self.kinds)
            if self.streamed:  # reconnected after a user_drop: the stream path is exercised every trial
                for n in (self.long, self.short):
                    stream = self.clients[n].user_stream
                    assert stream is not None and stream.running
                    assert await stream.wait_connected(10), f"{n} user stream not reconnected: {stream.stats()}"
            victim = rng.choice((self.long, self.short))
            cap = rng.choice((CAP, D(5)))
            use_limit = rng.random() < 0.5
            # a slow store in some streamed trials: a fill the stream recorded first is still being
            # persisted when the REST poll reports its order filled
            slow = rng.choice((0.0, SLOW_STORE_S)) if self.streamed else 0.0
            # and in a third of them a user-stream fault on top of the order fault, on either leg
            extra = rng.choice(("dup", "user_drop", None, None, None, None)) if self.streamed else None
            extra_victim = rng.choice((self.long, self.short))
            ex = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC, unhedged_timeout_s=0.1, max_retry_fees_usd=cap))
            pos = dict(self.own)  # what this lane holds
            closing = pos[self.long] > 0 or pos[self.short] < 0
            if self.protected is not None:  # as the runtime does before a pair trades
                await self.backstops.cancel_position(self.protected, "trial")
            op = "sweep" if closing and self.dust_pair else "close" if closing else "open"
            row = await self.store.create_position(symbol=symbol, long_exchange=self.long, short_exchange=self.short,
                                                   status="opening", quantity=qty, leverage=D(1))
            seen: list[FillRecord] = []

            async def sink(f: FillRecord, pid: int = row.id, seen: list[FillRecord] = seen, slow: float = slow) -> None:
                seen.append(f)
                if slow:
                    await asyncio.sleep(slow)
                await self.store.add_fill(pid, "trial", exchange=f.exchange, symbol=f.symbol, side=f.side.value,
                                          quantity=f.qty, price=f.price, fee=f.fee, liquidity=f.liquidity,
                                          order_id=f.order_id)

            before = {n: engine_position(v, mult[n], symbol) for n, v in venues.items()}
            orders_before = {n: set(engine_orders(v, symbol)) for n, v in venues.items()}
            arm(venues[victim], rng, kind, symbol)
            if extra is not None:
                arm(venues[extra_victim], rng, extra, symbol)
            self.extra = f" + {extra} on {extra_victim}" if extra is not None else ""
            t0 = time.monotonic()
            long_c, short_c = self.clients[self.long], self.clients[self.short]
            ql, qs = max(pos[self.long], D(0)), max(-pos[self.short], D(0))
            legs: dict[str, tuple[str, Decimal]]
            if op == "sweep":
                res = await ex.sweep_dust(long_c, short_c, symbol, ql, qs, on_fill=sink, max_fee_usd=SWEEP_FEE_CAP)
                # the close's legs (the top-up legs are the first of res.rollback)
                legs = {r.exchange: (r.side.value, r.requested) for r in (res.long, res.short)}
                clean = False
                # everything the pair held is closed: the net it moves is that of the dust pair
                planned = -ql * la.multiplier + qs * sa.multiplier
            elif op == "close":
                legs = {self.long: ("sell", ql), self.short: ("buy", qs)}
                clean = ql * la.multiplier == qs * sa.multiplier and ql >= la.min_size and qs >= sa.min_size
                res = await ex.close(long_c, short_c, symbol, ql, qs, on_fill=sink, use_limit=use_limit)
                # canonical net the plan itself moves: what the legs set out to trade (a remainder
                # no order can close stays on both legs, hedged)
                planned = -res.long.requested * la.multiplier + res.short.requested * sa.multiplier
            else:
                planned = D(0)
                legs = {self.long: ("buy", qty / la.multiplier), self.short: ("sell", qty / sa.multiplier)}
                clean = True
                res = await ex.open(long_c, short_c, symbol, qty / la.multiplier, qty / sa.multiplier, on_fill=sink,
                                    use_limit=use_limit)
            elapsed = time.monotonic() - t0
            for v in venues.values():
                v.faults.clear(symbol)
            await self.check(trial, kind, victim, op, res, venues, mult, tol, cap, seen, before, planned)
            self.check_sizes(trial, kind, victim, op, res, venues, legs, orders_before, clean and kind in HARMLESS)
            self.stats.append((kind, self.streamed, res, elapsed, sum(f.source == "position" for f in seen), op))
            for f in seen:
                self.own[f.exchange] += f.signed_qty
            # dust (a hedged pair, or a remainder within the tolerance that no order can close)
            self.dust_pair = bool(res.dust)
            await self.protect(trial, rng, mult)
        if self.protected is not None:
            await self.backstops.cancel_position(self.protected, "lane done")
        # leave both exchanges flat for the next pairing
        pos = dict(self.own)
        if any(pos.values()):
            ex = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC))
            row = await self.store.create_position(symbol=symbol, long_exchange=self.long, short_exchange=self.short,
                                                   status="closing", quantity=qty, leverage=D(1))

            async def flat_sink(f: FillRecord, pid: int = row.id) -> None:
                self.own[f.exchange] += f.signed_qty
                await self.store.add_fill(pid, "flatten", exchange=f.exchange, symbol=f.symbol, side=f.side.value,
                                          quantity=f.qty, price=f.price, fee=f.fee, liquidity=f.liquidity,
                                          order_id=f.order_id)

            ends = (self.clients[self.long], self.clients[self.short], symbol)
            if self.dust_pair:
                res = await ex.sweep_dust(*ends, max(pos[self.long], D(0)), max(-pos[self.short], D(0)),
                                          on_fill=flat_sink, max_fee_usd=SWEEP_FEE_CAP)
            else:
                res = await ex.close(*ends, max(pos[self.long], D(0)), max(-pos[self.short], D(0)), on_fill=flat_sink,
                                     use_limit=False)
                if res.dust:  # the close met a leg below its market's minimum: swept, with no fault
                    self.dust.append(f"{symbol} {self.long}->{self.short} {res.dust}")
                    pos = dict(self.own)
                    res = await ex.sweep_dust(*ends, max(pos[self.long], D(0)), max(-pos[self.short], D(0)),
                                              on_fill=flat_sink, max_fee_usd=SWEEP_FEE_CAP)
            net = sum(engine_position(v, mult[n], symbol) for n, v in venues.items()) - self.start_net
            assert abs(net) <= tol, f"{symbol} {self.long}->{self.short}: flatten left net {net}: {res.reason}"
            assert not any(self.own.values()), f"{symbol} {self.long}->{self.short}: not flat at the end: {self.own}: {res.reason}"
        for n, v in venues.items():
            left = [o for a in v.accounts.values() for o in v.open_orders(a.id, symbol)]
            assert not left, f"{symbol} {self.long}->{self.short}: {len(left)} order(s) left on {n} at the end"

    def what(self, trial: int, kind: str, victim: str, op: str, res: PairResult) -> str:
        return (f"trial {trial} (seed {SEED}, {self.symbol} {self.long}->{self.short}, "
                f"{op}, {'user streams' if self.streamed else 'no user streams'}, "
                f"fault {kind} on {victim}{self.extra}): {res.reason}")

    def check_sizes(self, trial: int, kind: str, victim: str, op: str, res: PairResult, venues,
                    legs: dict[str, tuple[str, Decimal]], orders_before: dict[str, set[int]], harmless: bool) -> None:
        """No leg trades more than asked (in either direction, on each exchange: the trial's leg
        that way plus the repairs, and a sweep's top-up legs, sent that way); with nothing wrong,
        exactly what was asked and no repair."""
        what = self.what(trial, kind, victim, op, res)
        for n in (self.long, self.short):
            for side in ("buy", "sell"):
                want = legs[n][1] if n in legs and legs[n][0] == side else D(0)
                repairs = sum((r.requested for r in res.rollback if r.exchange == n and r.side.value == side), D(0))
                got = traded(venues[n], self.symbol, orders_before[n], side)
                assert got <= want + repairs, (
                    f"{what}: {n} {side} {got} for a leg of {want} and repairs of {repairs} in that direction "
                    f"(leg orders sent: {res.long.orders_sent if n == self.long else res.short.orders_sent})")
                if harmless and not res.fee_cap_hit and n in legs and legs[n][0] == side:
                    assert got == want, f"{what}: {n} {side} {got}, the leg asked {want}"
        if harmless and not res.fee_cap_hit:
            assert res.success and not res.rollback, f"{what}: repairs {res.rollback}"

    async def check(self, trial: int, kind: str, victim: str, op: str, res: PairResult, venues, mult, tol, cap,
                    seen: list[FillRecord], before: dict[str, Decimal], planned: Decimal) -> None:
        symbol = self.symbol
        what = self.what(trial, kind, victim, op, res)
        # the net the pair gained in this trial, beyond what the plan itself nets to (0 unless a
        # close of unequal legs left by an earlier trial)
        net = sum(engine_position(v, mult[n], symbol) - before[n] for n, v in venues.items()) - planned
        assert abs(net) <= tol, (f"{what}: net exposure {net} > {tol} (positions read back {res.positions}, "
                                 f"engine {[engine_position(v, mult[n], symbol) for n, v in venues.items()]}, fills {seen})")
        for n, v in venues.items():
            left = [o for a in v.accounts.values() for o in v.open_orders(a.id, symbol)]
            assert not left, f"{what}: {len(left)} open order(s) left on {n}"
        # every trade on these accounts comes from the executor: stored fills == positions
        stored: dict[str, Decimal] = defaultdict(Decimal)
        async with self.store.sessions() as s:  # every stored fill of the symbol, whatever its position
            for exchange, side, qty in (await s.execute(
                    select(FillRow.exchange, FillRow.side, FillRow.quantity).where(FillRow.symbol == symbol))).all():
                stored[exchange] += qty if side == "buy" else -qty
        for n, v in venues.items():
            actual = engine_position(v, mult[n], symbol) / mult[n]
            assert stored[n] == actual, f"{what}: fills stored for {n} add up to {stored[n]}, position is {actual}"
        unknown = any(leg.uncertain for leg in (res.long, res.short, *res.rollback))
        if kind not in ANSWERLESS and not unknown:
            inferred = [f for f in seen if f.source in ("position", "history")]
            assert not inferred, f"{what}: fills inferred from positions without a lost answer: {inferred}"
        assert res.retry_fees <= cap, f"{what}: retry fees {res.retry_fees} > cap {cap}"
        assert res.open_orders_left == 0 and not res.naked, what
        if res.dust:  # a hedged dust pair: what each leg holds, read back from the exchanges
            held = {n: engine_position(v, mult[n], symbol) / mult[n] for n, v in venues.items()}
            assert op != "open", f"{what}: an open reported dust {res.dust}"
            # closes of whole positions: the dust is what the legs still hold
            assert all(held[n] == q for n, q in res.dust), f"{what}: dust {res.dust}, positions {held}"


async def test_atomic_executor_holds_under_random_faults(tmp_path) -> None:
    cluster = await start_emulators(list(EXCHANGES), seed=SEED)
    cluster.sim.tick = 0.02  # resting orders meet the market often: limit fills happen within a trial
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}")
    await store.init()
    clients = {n: make_client(cluster, n) for n in EXCHANGES}
    stats: list[tuple[str, bool, PairResult, float, int, str]] = []
    dust: list[str] = []
    checks = 0
    try:
        await asyncio.gather(*(c.connect() for c in clients.values()))
        for c in clients.values():
            for sym in SYMBOLS:
                await c.prepare_market_feed(sym)
        assert all(await asyncio.gather(*(c.feed.wait_ready(sym, 10) for c in clients.values() for sym in SYMBOLS)))
        per_round = -(-TRIALS // (2 * len(ROUNDS)))
        symbols = iter(SYMBOLS)
        n = 0
        for r, pairs in enumerate(ROUNDS):
            lanes = []
            for i, (long, short) in enumerate(pairs):
                # one lane of each round with the user streams of its two exchanges (the lanes of a
                # round share no exchange): 5 of 10 lanes, every exchange streamed as long and short
                lane = Lane(cluster, clients, long, short, next(symbols), store, stats, streamed=i == r % 2)
                lanes.append((lane, list(range(n, n + per_round))))
                n += per_round
            streamed = [lane for lane, _ in lanes if lane.streamed]
            for lane in streamed:
                for name in (lane.long, lane.short):
                    await clients[name].start_user_stream([lane.symbol])
            for lane in streamed:
                for name in (lane.long, lane.short):
                    assert await clients[name].user_stream.wait_connected(10), f"{name} user stream not connected"
            try:
                await asyncio.gather(*(lane.run(ts) for lane, ts in lanes))
            finally:
                for lane in streamed:
                    await asyncio.gather(*(clients[name].stop_user_stream() for name in (lane.long, lane.short)))
            dust.extend(d for lane, _ in lanes for d in lane.dust)
            checks += sum(lane.backstop_checks for lane, _ in lanes)
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
        await store.close()
        await cluster.stop()

    summary: dict[tuple[str, bool], Counter[str]] = defaultdict(Counter)
    worst: dict[tuple[str, bool], float] = defaultdict(float)
    took: dict[tuple[str, bool], float] = defaultdict(float)
    for kind, streamed, res, elapsed, inferred, op in stats:
        c = summary[kind, streamed]
        c["trials"] += 1
        c["complete" if res.success else "dust left" if res.dust else
          ("hedged smaller" if res.balanced_qty > 0 else "flat")] += 1
        c["sweeps"] += op == "sweep"
        c["cap hit"] += res.fee_cap_hit
        c["repairs"] += len(res.rollback)
        c["inferred fills"] += inferred
        worst[kind, streamed] = max(worst[kind, streamed], res.max_unhedged_s)
        took[kind, streamed] += elapsed
    cols = ("trials", "complete", "hedged smaller", "flat", "dust left", "sweeps", "repairs", "cap hit", "inferred fills")
    with_streams = sum(s for _, s, *_ in stats)
    print(f"\nfault trials (seed {SEED}): {len(stats)} ({with_streams} with user streams, {len(stats) - with_streams} "
          f"without); dust pairs met by the lane-end closes (then swept): {dust}")
    print(f"{'fault':<14}{'streams':>8}" + "".join(f"{c:>15}" for c in cols) + f"{'max unhedged s':>16}{'mean s':>8}")
    for streamed in (False, True):
        for kind in STREAM_KINDS if streamed else KINDS:
            k = (kind, streamed)
            print(f"{kind:<14}{'stream' if streamed else 'none':>8}" + "".join(f"{summary[k][c]:>15}" for c in cols)
                  + f"{worst[k]:>16.2f}{took[k] / max(summary[k]['trials'], 1):>8.2f}")
    print(f"backstop checks passed: {checks}")
    assert checks == len(stats)
    assert len(stats) >= min(TRIALS, 300)
    assert min(with_streams, len(stats) - with_streams) >= len(stats) * 4 // 10
