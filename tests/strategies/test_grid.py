"""The grid strategy against the emulated exchanges (real clients, user streams and SQLite on
loopback). The emulator's index barely moves by itself here (``price_time_scale`` 1e-6); each
test moves it by hand: a resting order fills when the market crosses it, so an entry fills when
the price drops through it and a take-profit when it rises through it.

Covered: entries, the take-profit placed for every fill at once (a partial fill: for the filled
part only), the invariant, round trips and the report identity, on all four exchanges; the
cooldown schedule, grid step, pause and stop price gates, stop loss, max margin, boost and the
funding pause."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from perpdex.config import GridConfig
from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeSettings
from perpdex.runtime.core import TradingRuntime
from perpdex.sim.server import start_emulators
from perpdex.storage import OrderRole, Store
from perpdex.strategies.grid import GridStrategy, entry_wait
from tests.execution.emulated import engine_position, make_client
from tests.waiting import eventually

D = Decimal
EXCHANGES = ("aster", "lighter", "backpack", "paradex")
SYMBOL = "ETH"


class Harness:
    """One emulated exchange, a runtime over it and helpers to move its market."""

    def __init__(self, cluster, exchange: str, store: Store) -> None:
        self.cluster = cluster
        self.exchange = exchange
        self.venue = cluster.sim.venue(exchange)
        self.store = store
        self.client = make_client(cluster, exchange)
        self.events: list[str] = []
        self.runtime = TradingRuntime({exchange: self.client}, store, on_event=self.events.append)
        self.grids: list[GridStrategy] = []

    def grid(self, **kw) -> GridStrategy:
        funding = kw.pop("_funding", None)
        params = {"kind": "grid", "exchange": self.exchange, "symbol": SYMBOL, "order_notional_usd": D(60),
                  "take_profit": D("0.002"), "max_orders": 3, "wait_time_s": 0, "entry_timeout_s": 30,
                  "cycle_interval_s": 0.1, **kw}
        g = GridStrategy(GridConfig(**params), self.runtime, funding=funding)
        self.grids.append(g)
        return g

    @property
    def price(self) -> float:
        return self.cluster.sim.index.prices[SYMBOL]

    async def move(self, factor: float, settle_s: float = 0.4) -> None:
        """Move the index by ``factor`` and let the market tick (resting orders it crosses fill)."""
        self.cluster.sim.index.prices[SYMBOL] = self.price * factor
        await asyncio.sleep(settle_s)

    def exchange_position(self) -> Decimal:
        return engine_position(self.venue, D(1), SYMBOL)


@pytest.fixture
async def harness_factory(tmp_path):
    made: list[tuple] = []

    async def make(exchange: str) -> Harness:
        cluster = await start_emulators([exchange], seed=11, price_time_scale=1e-6)
        cluster.sim.venue(exchange).passive_fill_prob = 0.0  # fills only when the market crosses
        store = Store(f"sqlite+aiosqlite:///{tmp_path / (exchange + '.db')}")
        await store.init()
        h = Harness(cluster, exchange, store)
        made.append((cluster, store, h))
        return h

    yield make
    for cluster, store, h in made:
        for g in h.grids:
            await g.stop()
        await h.runtime.close()
        await store.close()
        await cluster.stop()



async def stored_fills(h: Harness, g: GridStrategy, n: int, timeout: float = 15.0) -> list:
    end = time.monotonic() + timeout
    while len(fills := await h.store.order_fills(g.name)) < n:
        if time.monotonic() > end:
            raise AssertionError(f"{n} fill(s) not stored in time")
        await asyncio.sleep(0.02)
    return fills


async def entry_resting(g: GridStrategy) -> list:
    """Cycle until the grid's post-only entry rests (a cycle on a book that lags the moving
    emulated market can see its entry refused as crossing; the next one places it again)."""

    async def placed() -> list:
        await g.cycle()
        return g.orders.live(OrderRole.ENTRY)

    return await eventually(placed, "a resting entry", interval=0.1)


def covered(g: GridStrategy) -> Decimal:
    return sum((r.quantity - r.filled for r in g.orders.live(OrderRole.TAKE_PROFIT)), D(0))


def assert_invariant(g: GridStrategy) -> None:
    assert g.attrs is not None
    assert abs(abs(g.orders.position) - covered(g)) < g.attrs.lot_size, (g.orders.position, covered(g))


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_every_fill_gets_its_take_profit_at_once_and_round_trips_add_up(harness_factory, exchange):
    h = await harness_factory(exchange)
    g = h.grid()
    await g.start()
    [entry] = await entry_resting(g)
    assert entry.post_only and entry.side == "buy"
    bid, ask = await g.fetch_touch()
    assert entry.price == bid  # at the touch, from the WebSocket book
    # a partial fill (half): its take-profit covers the filled part only, placed without a cycle
    h.venue.faults.inject("partial", 1, SYMBOL, 0.5)
    await h.move(0.9995, settle_s=0)
    await eventually(lambda: g.orders.live(OrderRole.TAKE_PROFIT))
    [tp] = g.orders.live(OrderRole.TAKE_PROFIT)
    first_fill = g.orders.rows[entry.id].filled
    assert 0 < first_fill < entry.quantity
    assert tp.quantity == first_fill and tp.reduce_only and tp.side == "sell"
    fills = await stored_fills(h, g, 1)
    expect = g.client.contracts[SYMBOL].round_price(fills[0].price * D("1.002"))
    assert abs(tp.price - expect) <= g.attrs.tick_size  # type: ignore[union-attr]
    assert_invariant(g)
    # the rest of the entry fills: covered too, still one take-profit per fill at once
    await h.move(0.9995, settle_s=0)
    await eventually(lambda: covered(g) == entry.quantity)
    assert_invariant(g)
    assert h.exchange_position() == g.orders.position == entry.quantity
    # the market rises through the take-profits: flat, round trips in the report
    await h.move(1.004)
    await eventually(lambda: g.orders.position == 0 and not g.orders.live(OrderRole.TAKE_PROFIT))
    assert h.exchange_position() == 0
    rep = await g.report()
    assert sum((D(rt["quantity"]) for rt in rep["round_trips"]), D(0)) == entry.quantity
    assert all(D(rt["price_pnl"]) > 0 for rt in rep["round_trips"])
    assert D(rep["realized_pnl"]) == D(rep["closed_price_pnl"]) - D(rep["fees"]) + D(rep["funding"])
    # every fill the emulator made for the grid is stored once
    engine_fills = sorted(str(f.trade_id) for a in h.venue.accounts.values() for f in a.fills if f.symbol == SYMBOL)
    assert engine_fills == sorted(f.trade_id for f in await h.store.order_fills(g.name))


def test_cooldown_schedule():
    w = 8.0
    assert entry_wait(0, 6, w) == w / 4
    assert entry_wait(1, 6, w) == w / 2  # 1/6
    assert entry_wait(2, 6, w) == w  # 1/3
    assert entry_wait(4, 6, w) == 2 * w  # 2/3
    assert entry_wait(5, 6, w) == 2 * w


async def test_cooldown_waits_after_an_entry_and_goes_at_once_when_a_take_profit_fills(harness_factory):
    h = await harness_factory("lighter")
    g = h.grid(wait_time_s=600, max_orders=4)
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)  # the first entry fills; its take-profit rests
    await eventually(lambda: len(g.orders.live(OrderRole.TAKE_PROFIT)) == 1)
    await g.cycle()
    await g.cycle()
    assert not g.orders.live(OrderRole.ENTRY)  # 1/4 fill ratio: waits w/2 = 300 s
    await h.move(1.004)  # the take-profit fills: the count fell, so the next entry goes at once
    await eventually(lambda: not g.orders.live(OrderRole.TAKE_PROFIT))
    await g.cycle()
    await g.cycle()
    assert len(g.orders.live(OrderRole.ENTRY)) == 1


async def test_grid_step_keeps_entries_apart(harness_factory):
    h = await harness_factory("backpack")
    g = h.grid(grid_step=D("0.01"))
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: len(g.orders.live(OrderRole.TAKE_PROFIT)) == 1)
    for _ in range(3):
        await g.cycle()
    assert not g.orders.live(OrderRole.ENTRY)  # within 1 % of the resting take-profit's entry
    await h.move(0.985)  # 1.5 % lower: far enough
    await g.cycle()
    assert len(g.orders.live(OrderRole.ENTRY)) == 1


async def test_pause_price_stops_entries_and_stop_price_flattens_and_halts(harness_factory):
    h = await harness_factory("aster")
    p = D(str(h.price))
    g = h.grid(pause_price=p * D("1.01"), stop_price=p * D("0.98"))
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > 0 and covered(g) == g.orders.position)
    await h.move(1.02)  # above the pause price: no new entry, the take-profit still works
    await eventually(lambda: g.orders.position == 0)
    await g.cycle()
    assert g.state.paused and "pause price" in g.state.paused and not g.orders.live(OrderRole.ENTRY)
    await h.move(1 / 1.02)  # back below: entries resume
    await g.cycle()
    [entry] = g.orders.live(OrderRole.ENTRY)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > 0)
    await h.move(0.97)  # through the stop price: cancel all, flatten, halt
    await g.cycle()
    assert g.state.halted and g.orders.position == 0 and not g.orders.live()
    assert h.exchange_position() == 0
    await g.cycle()
    assert not g.orders.live(OrderRole.ENTRY)  # halted while breached
    await h.move(1.03)  # back between the stop and the pause price
    await g.cycle()
    assert not g.state.halted and g.orders.live(OrderRole.ENTRY)


async def test_stop_loss_flattens(harness_factory):
    h = await harness_factory("paradex")
    g = h.grid(stop_loss=D("0.01"))
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > 0 and covered(g) == g.orders.position)
    await h.move(0.985)
    await g.cycle()
    assert g.orders.position == 0 and h.exchange_position() == 0 and not g.orders.live()
    assert any("stop loss" in e for e in h.events)


async def test_max_margin_is_never_exceeded(harness_factory):
    h = await harness_factory("lighter")
    g = h.grid(max_margin_usd=D(30), leverage=D(3), max_orders=5)  # 60 USD per entry: 20 USD margin
    await g.start()
    for _ in range(4):
        await g.cycle()  # paused by max_margin_usd once it binds: no entry rests then
        await h.move(0.9995)
        await eventually(lambda: covered(g) == abs(g.orders.position))
    assert abs(g.orders.position) * D(str(h.price)) / g.leverage <= D(30) + D(1)
    assert g.state.paused and "max_margin_usd" in g.state.paused


async def test_boost_exits_at_market_instead_of_resting(harness_factory):
    h = await harness_factory("backpack")
    g = h.grid(boost=True)
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > 0)
    await g.cycle()
    assert not g.orders.live(OrderRole.TAKE_PROFIT)
    await h.move(1.004)
    await g.cycle()
    assert g.orders.position == 0 and h.exchange_position() == 0


async def test_funding_against_the_grid_pauses_entries(harness_factory):
    # the scenario's Lighter ETH rate is negative: shorts pay, longs receive
    for direction, paused in (("sell", True), ("buy", False)):
        h = await harness_factory("lighter")
        ep = h.cluster.endpoints["lighter"]
        funding = registry.funding_class("lighter")(ExchangeSettings("lighter", rest_url=ep["rest_url"],
                                                                     ws_url=ep["ws_url"]))
        try:
            g = h.grid(direction=direction, max_funding_apr_against=D(0), _funding=funding)
            await g.start()
            await g.cycle()
            assert g.state.funding_apr is not None and g.state.funding_apr < 0
            if paused:
                assert g.state.paused and "funding" in g.state.paused and not g.orders.live()
            else:
                assert g.state.paused is None and g.orders.live(OrderRole.ENTRY)
        finally:
            await funding.close()


async def test_a_market_has_one_owner(harness_factory):
    h = await harness_factory("aster")
    h.grid()
    with pytest.raises(ValueError, match="already traded by strategy 'grid-aster-eth'"):
        h.grid(name="second")


async def test_liquidation_of_the_grid_market_cancels_everything_and_stops(harness_factory):
    h = await harness_factory("aster")
    g = h.grid()
    await g.start()
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > 0 and covered(g) == g.orders.position)
    [account] = [a for a in h.venue.accounts.values() if a.positions.get(SYMBOL) and a.positions[SYMBOL].qty]
    assert h.venue.liquidate(account.id, SYMBOL, adl=True) is not None  # the exchange deleverages the position
    await eventually(lambda: g.state.liquidated is not None)
    await g.cycle()
    assert not g.orders.live() and not [o for o in h.venue.open_orders(account.id, SYMBOL)]
    assert any("liquidated/ADL" in e for e in h.events)
    await g.cycle()
    assert not g.orders.live()  # stopped: no new entry
