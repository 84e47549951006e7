"""Seeded randomized fault test of the grid strategy over the four emulated exchanges on loopback:
real clients with their user-data streams, real SQLite storage, real emulator faults.

One lane per exchange runs at the same time, each one grid on its own symbol (so the lanes never
move each other's market): two ``buy`` grids and two ``sell`` grids. Every trial arms one fault
(a third of the trials a user-stream fault on top) on the lane's exchange, then moves the index by
hand one to three times (down through the entries, up through the take-profits, either way),
running grid cycles in between, then quiesces (faults cleared, the user stream connected again,
cycles until the fills settled) and checks the grid against the emulator's own accounts and
orders, not against the client's view:

* invariant: the emulator's position == the grid's (the sum of its stored fills), and |position|
  == the remaining sizes of the reduce-only orders resting on the emulator, within one lot. When
  no take-profit rests and the uncovered rest is below the exchange's minimum order size (Lighter:
  a partial fill of a few lots, its entry then cancelled), no order can cover it: that rest must
  stay below the minimum (the next entry fill is covered together with it);
* no orphan: every order resting on the emulator in the symbol is a live order of the grid's
  tracker (same client id), and every live order the tracker counts as resting is on the emulator;
* ``max_orders``: never more resting take-profits on the emulator than that;
* ``max_margin_usd``: at every fill of an entry (replayed from the emulator's fills), the position
  after it valued at that entry's limit price / leverage <= the cap (exact: the grid decides each
  entry at its limit price, and only one entry rests at a time);
* every emulator fill of the account in the symbol is stored exactly once in ``order_fills``
  (trade ids compared as multisets).

Faults: ``partial`` (fills of a fraction, entries and take-profits), ``reject`` (the next order
refused), ``post_only`` (the market whips down through the entry and straight back up past its
take-profit price, so the take-profit is often refused as crossing and re-priced),
``drop_on_fill`` (market sockets dropped mid-fill), ``ack_lost`` / ``ack_late`` (the order
executed, its answer lost / late past ``order_timeout_s``), ``http429``, ``dup`` (a fill frame
sent twice), ``user_drop`` (a fill frame lost, the private socket closed), ``restart`` (an
answer held back past the timeout, then the grid dropped mid-trial and a new one started from
storage and the exchange, as after a kill -9; its orders are often ``uncertain`` or unanswered).

``PERPDEX_GRID_FAULT_SEED`` / ``PERPDEX_GRID_FAULT_TRIALS`` override the seed (default 5) and the
trial count (default 200, split over the four lanes).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal

from perpdex.config import GridConfig
from perpdex.runtime.core import TradingRuntime
from perpdex.runtime.orders import PENDING, UNCERTAIN
from perpdex.sim.server import start_emulators
from perpdex.storage import OrderRole, Store
from perpdex.strategies.grid import GridStrategy
from tests.execution.emulated import make_client

D = Decimal
SEED = int(os.environ.get("PERPDEX_GRID_FAULT_SEED", "5"))
TRIALS = int(os.environ.get("PERPDEX_GRID_FAULT_TRIALS", "200"))
# exchange -> (symbol, direction)
LANES = {"aster": ("ETH", "buy"), "lighter": ("SOL", "sell"), "backpack": ("AAVE", "buy"), "paradex": ("BTC", "sell")}
KINDS = ("none", "partial", "reject", "post_only", "drop_on_fill", "ack_lost", "ack_late", "http429", "dup", "user_drop",
         "restart")
ORDER_TIMEOUT_S = 0.3
MAX_ORDERS = 4
LEVERAGE = D(3)
NOTIONAL = D(40)  # USD per entry: 13.3 USD margin at 3x
MAX_MARGIN = D(45)  # binds at the fourth entry
TRIAL_TIMEOUT_S = 30.0
TICK_S = 0.02  # the emulator's market step: resting orders meet the market often


def arm(venue, rng: random.Random, kind: str, symbol: str) -> None:
    f = venue.faults
    if kind == "partial":
        f.inject("partial", count=rng.randint(1, 3), symbol=symbol, value=rng.choice([0.0, 0.1, 0.3, rng.random()]))
    elif kind == "reject":
        f.inject("reject", count=rng.randint(1, 2), symbol=symbol)
    elif kind in ("drop_on_fill", "ack_lost", "dup", "user_drop"):
        f.inject(kind, symbol=symbol)
    elif kind in ("ack_late", "restart"):
        f.inject("ack_late", symbol=symbol, value=ORDER_TIMEOUT_S * 1.5)
    elif kind == "http429":
        f.inject("http429", count=rng.randint(1, 3))


def awaiting(task: asyncio.Task) -> str:
    """Where ``task`` waits: its chain of awaited coroutines, outermost first."""
    out, coro = [], task.get_coro()
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        f = coro.cr_frame
        out.append(f"  {f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}")
        coro = coro.cr_await
    return "\n".join(out) + "\n"


class Lane:
    """One exchange's grid, worked by trials in sequence."""

    def __init__(self, cluster, exchange: str, store: Store, stats: list) -> None:
        self.cluster, self.exchange, self.store, self.stats = cluster, exchange, store, stats
        self.symbol, direction = LANES[exchange]
        self.venue = cluster.sim.venue(exchange)
        self.venue.passive_fill_prob = 0.0  # fills only when the market crosses
        self.client = make_client(cluster, exchange)
        self.runtime = TradingRuntime({exchange: self.client}, store)
        cfg = GridConfig(kind="grid", exchange=exchange, symbol=self.symbol, direction=direction,
                         order_notional_usd=NOTIONAL, take_profit=D("0.002"), max_orders=MAX_ORDERS, wait_time_s=0,
                         entry_timeout_s=1.0, leverage=LEVERAGE, max_margin_usd=MAX_MARGIN, cycle_interval_s=0.05,
                         order_timeout_s=ORDER_TIMEOUT_S)
        self.cfg = cfg
        self.grid = self.new_grid()
        self.restarts = 0
        self.fills_stored = 0  # by grids replaced in restarts
        self.start_price = 0.0
        self.sign = 1 if direction == "buy" else -1
        self.errors: list[str] = []  # exceptions a trial's cycles raised (the checks decide)

    @property
    def price(self) -> float:
        return self.cluster.sim.index.prices[self.symbol]

    async def move(self, factor: float) -> None:
        self.cluster.sim.index.prices[self.symbol] = self.price * factor

    def account(self):
        accts = [a for a in self.venue.accounts.values() if a.orders]
        assert len(accts) <= 1, f"{self.exchange}: more than one account traded"
        return accts[0] if accts else None

    async def run(self, trials: list[int]) -> None:
        g = self.grid
        await g.start()
        self.start_price = self.price
        for trial in trials:
            task = asyncio.get_running_loop().create_task(self.trial(trial))
            done, _ = await asyncio.wait({task}, timeout=TRIAL_TIMEOUT_S)
            if not done:  # a hang: where the trial waits, then fail
                where = awaiting(task)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise AssertionError(f"trial {trial} (seed {SEED}, {self.exchange}) hung {TRIAL_TIMEOUT_S}s at:\n"
                                     f"{where}" + self.dump())
            task.result()
        # the lane ends flat: everything the grid holds closed, nothing left resting
        await self.grid.flatten("end of the fault test")
        await self.quiesce(len(trials), "flatten", None, entries=False)
        acct = self.account()
        if acct is not None:
            pos = acct.positions.get(self.symbol)
            left = self.venue.open_orders(acct.id, self.symbol)
            assert not (pos and pos.qty) and not left, (
                f"{self.exchange}: not flat after the flatten: position {pos and pos.qty}, "
                f"{[(o.client_id, o.side, o.qty, o.reduce_only) for o in left]} open" + self.dump())

    async def trial(self, trial: int) -> None:
        rng = random.Random(f"{SEED}:{self.exchange}:{trial}")
        kind = rng.choice(KINDS)
        extra = rng.choice(("dup", "user_drop", None, None, None, None))
        t0 = time.monotonic()
        arm(self.venue, rng, kind, self.symbol)
        if extra:
            arm(self.venue, rng, extra, self.symbol)
        await self.cycle(trial)
        for _ in range(rng.randint(1, 3)):
            if kind == "post_only":  # whip through the entry and straight back past its take-profit
                await self.move(1 - self.sign * 0.0008)
                await asyncio.sleep(rng.choice((0.0, TICK_S, 2 * TICK_S)))
                await self.move(1 + self.sign * 0.004)
            else:
                # a random walk pulled back to where the lane started (entries and exits both meet it)
                drift = self.price / self.start_price - 1
                up = rng.random() < 0.5 - max(min(drift * 50, 0.4), -0.4)
                await self.move(1 + (1 if up else -1) * rng.uniform(0.0004, 0.004))
            await asyncio.sleep(rng.uniform(TICK_S, 4 * TICK_S))
            for _ in range(rng.randint(1, 2)):
                await self.cycle(trial)
            if kind == "restart":  # the process dies here: a new grid recovers from storage and the exchange
                await self.restart()
        await self.quiesce(trial, kind, extra)
        self.stats.append((self.exchange, kind, extra, time.monotonic() - t0))

    def new_grid(self) -> GridStrategy:
        self.grid = GridStrategy(self.cfg, self.runtime)
        return self.grid

    async def restart(self) -> None:
        """Drop the grid's memory (its tracker's rows, fills met before their answers, the
        consumer task) and start a new one on the same storage, like a restarted process; an
        answer still in flight is lost with the old one."""
        old = self.grid
        if old.orders._unsubscribe is not None:
            old.orders._unsubscribe()
            old.orders._unsubscribe = None
        for task in [old.orders._task, *old.orders._settling]:
            if task is not None:
                task.cancel()
        self.restarts += 1
        self.fills_stored += old.orders.fills_stored
        await self.new_grid().start()

    async def cycle(self, trial: int) -> None:
        try:
            await self.grid.cycle()
        except Exception as exc:  # noqa: BLE001 - an injected 429 reaches the cycle; the next one retries
            self.errors.append(f"trial {trial}: {type(exc).__name__}: {exc}")

    async def quiesce(self, trial: int, kind: str, extra: str | None, entries: bool = True) -> None:
        """Faults cleared, streams reconnected, the grid cycled until its view settled; then checked."""
        g = self.grid
        self.venue.faults.clear(self.symbol)
        self.venue.faults.clear()
        await asyncio.sleep(2 * TICK_S)
        stream = self.client.user_stream
        assert stream is not None and await stream.wait_connected(10), f"{self.exchange}: user stream down"
        what = (f"trial {trial} (seed {SEED}, {self.exchange} {self.symbol} {g.cfg.direction}, fault {kind}"
                f"{' + ' + extra if extra else ''})")
        problems: list[str] = []
        for attempt in range(40):
            try:
                if entries:
                    await g.cycle()
                else:
                    await g.orders.sync()
                    await g.check_invariant()
            except Exception as exc:  # noqa: BLE001 - retried: a fault's aftermath may still be in flight
                problems = [f"cycle raised {type(exc).__name__}: {exc}"]
                await asyncio.sleep(0.05)
                continue
            await g.orders.settle()
            await g.orders.drain()
            problems = await self.problems()
            if not problems:
                break
            await asyncio.sleep(0.05 if attempt < 10 else 0.2)
        assert not problems, f"{what}:\n  " + "\n  ".join(problems) + f"\n  lane errors: {self.errors[-5:]}" + self.dump()

    def dump(self) -> str:
        """The last orders as the emulator and the tracker see them (for a failure's message)."""
        acct = self.account()
        emu = [(o.id, o.client_id, o.side, o.qty, o.filled, o.status, o.reduce_only, o.price)
               for o in list(acct.orders.values())[-12:]] if acct else []
        rows = [(r.id, r.client_order_id, r.order_id, r.role, r.side, r.quantity, r.filled, r.status, r.price)
                for r in sorted(self.grid.orders.rows.values(), key=lambda r: r.id)[-12:]]
        return ("\n  emulator orders:\n    " + "\n    ".join(map(str, emu)) + "\n  tracker rows:\n    "
                + "\n    ".join(map(str, rows)) + "\n  events:\n    " + "\n    ".join(self.grid.state.events[-8:]))

    async def problems(self) -> list[str]:
        g = self.grid
        a = g.attrs
        assert a is not None
        out: list[str] = []
        acct = self.account()
        if acct is None:
            return out
        pos = acct.positions.get(self.symbol)
        exch_pos = D(str(pos.qty)) if pos else D(0)
        stored = await g.orders.stored_position()
        if not (exch_pos == stored == g.orders.position):
            out.append(f"position: emulator {exch_pos}, stored fills {stored}, tracker {g.orders.position}")
        opens = self.venue.open_orders(acct.id, self.symbol)
        tps = [o for o in opens if o.reduce_only]
        resting = sum((D(str(o.qty)) - D(str(o.filled)) for o in tps), D(0))
        gap = abs(exch_pos) - resting
        if abs(gap) >= a.lot_size and not (not tps and D(0) < gap < a.min_size):
            out.append(f"invariant: |position| {abs(exch_pos)} vs resting take-profits {resting} "
                       f"({[(o.client_id, o.qty, o.filled) for o in tps]})")
        if len(tps) > MAX_ORDERS:
            out.append(f"{len(tps)} take-profits rest (max_orders {MAX_ORDERS})")
        live = {r.client_order_id: r for r in g.orders.live()}
        for o in opens:
            r = live.get(o.client_id or "")
            if r is None:
                out.append(f"orphan: {o.side} {o.qty} @ {o.price} reduce-only={o.reduce_only} client id {o.client_id}")
            elif (r.role == OrderRole.TAKE_PROFIT) != o.reduce_only:
                out.append(f"order {o.client_id}: tracker role {r.role}, emulator reduce-only {o.reduce_only}")
        on_book = {o.client_id for o in opens}
        for cid, r in live.items():
            if r.status not in (PENDING, UNCERTAIN) and cid not in on_book:
                out.append(f"tracker counts {r.role} {cid} ({r.status}) as resting; the emulator does not")
        # every fill stored exactly once
        emu = sorted(str(f.trade_id) for f in acct.fills if f.symbol == self.symbol)
        st = sorted(f.trade_id for f in await self.store.order_fills(g.name))
        if emu != st:
            c_emu, c_st = Counter(emu), Counter(st)
            out.append(f"fills: missing {sorted((c_emu - c_st).elements())}, extra {sorted((c_st - c_emu).elements())}")
        # max_margin_usd at every entry fill, at the entry's limit price
        run = 0.0
        for f in sorted((f for f in acct.fills if f.symbol == self.symbol), key=lambda f: f.trade_id):
            o = acct.orders[f.order_id]
            run = run + f.qty if f.side == "buy" else run - f.qty
            if not o.reduce_only and o.price is not None:
                margin = D(str(abs(run))).quantize(a.lot_size) * D(str(o.price)) / g.leverage
                if margin > MAX_MARGIN:
                    out.append(f"margin {margin:.2f} USD after entry fill {f.trade_id} > max_margin_usd {MAX_MARGIN}")
        return out


async def test_grid_holds_under_random_faults(tmp_path) -> None:
    cluster = await start_emulators(list(LANES), seed=SEED, price_time_scale=1e-6)
    cluster.sim.tick = TICK_S
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'grid-faults.db'}")
    await store.init()
    stats: list[tuple[str, str, str | None, float]] = []
    lanes = [Lane(cluster, ex, store, stats) for ex in LANES]
    per_lane = -(-TRIALS // len(lanes))
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(lane.run(list(range(i * per_lane, (i + 1) * per_lane))) for i, lane in enumerate(lanes)))
    finally:
        for lane in lanes:
            await lane.grid.stop()
            await lane.runtime.close()
        await store.close()
        await cluster.stop()
    took = time.monotonic() - t0
    by_kind: dict[str, list[float]] = defaultdict(list)
    for _, kind, _, elapsed in stats:
        by_kind[kind].append(elapsed)
    extras = Counter(extra for *_, extra, _ in stats if extra)
    repairs = {lane.exchange: lane.grid.state.repairs for lane in lanes}
    fills = {lane.exchange: lane.fills_stored + lane.grid.orders.fills_stored for lane in lanes}
    dups = {lane.exchange: lane.grid.orders.duplicates for lane in lanes}
    print(f"\ngrid fault trials (seed {SEED}): {len(stats)} in {took:.1f}s; user-stream faults on top: {dict(extras)}")
    print(f"fills stored {fills}, duplicates refused {dups}, invariant repairs {repairs}")
    print(f"{'fault':<14}{'trials':>8}{'mean s':>8}{'max s':>8}")
    for kind in KINDS:
        t = by_kind.get(kind, [])
        print(f"{kind:<14}{len(t):>8}{sum(t) / max(len(t), 1):>8.2f}{max(t, default=0):>8.2f}")
    assert len(stats) >= TRIALS
    assert set(by_kind) == set(KINDS)
