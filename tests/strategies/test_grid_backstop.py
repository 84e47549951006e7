"""The grid's exchange-side backstop (strategies/grid.py on runtime/backstops.py) against the
emulated exchanges: real clients, user streams and SQLite over loopback (the harness of
test_grid.py: the index moves only when a test moves it).

Covered: a reduce-only stop-market for the whole position rests at the stop price (read back from
the exchange), is resized after a second fill and cancelled when a take-profit brings the grid
back to flat; the price runs through the stop while the grid does not cycle (perpdex not looking):
the exchange executes the backstop, the grid's next cycle records that fill as its own, sees flat,
halts, and nothing was sold twice (no reverse position, no flatten order); the grid's own flatten
takes the backstop down first; ``backstop.enabled: false`` places none; ``perpdex status`` shows
the grid's backstop price."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.models import Side
from perpdex.storage import OrderRole
from perpdex.strategies.grid import GridStrategy
from tests.strategies.test_grid import SYMBOL, Harness, covered, entry_resting, harness_factory  # noqa: F401  # the fixture
from tests.waiting import eventually

D = Decimal


def stops_on_wire(h: Harness) -> list:
    """Every stop-market order the emulated exchange received from our account, oldest first."""
    return [o for a in h.venue.accounts.values() for o in a.orders.values() if o.type == "stop_market"]


async def filled_once(h: Harness, g: GridStrategy) -> None:
    """One entry fills (the price drops through it) and its take-profit rests."""
    before = g.orders.position
    await entry_resting(g)
    await h.move(0.9995)
    await eventually(lambda: g.orders.position > before and covered(g) == g.orders.position)


def expected_trigger(g: GridStrategy, price: Decimal) -> Decimal:
    assert g.attrs is not None
    return g.attrs.round_price(price, Side.SELL)


async def test_backstop_follows_the_position_and_is_cancelled_when_flat(harness_factory):  # noqa: F811
    h = await harness_factory("aster")
    stop = D(str(h.price)) * D("0.97")
    g = h.grid(stop_price=stop, max_orders=3)
    await g.start()
    assert await g.client.fetch_open_conditional_orders(SYMBOL) == []  # flat: nothing rests
    await filled_once(h, g)
    await g.cycle()
    [bs] = await g.client.fetch_open_conditional_orders(SYMBOL)
    assert bs.side is Side.SELL and bs.size == g.orders.position and bs.reduce_only
    assert bs.trigger_price == expected_trigger(g, stop) and bs.trigger_by == "mark"
    first = g.orders.position
    # a second fill: the one backstop is resized to the whole position (the old one cancelled)
    await filled_once(h, g)
    await g.cycle()
    [bs2] = await g.client.fetch_open_conditional_orders(SYMBOL)
    assert bs2.size == g.orders.position > first and bs2.order_id != bs.order_id
    assert bs2.trigger_price == bs.trigger_price
    assert all(o.reduce_only for o in stops_on_wire(h))  # on the wire too
    # the take-profits fill: flat, the backstop is cancelled
    for tp in g.orders.live(OrderRole.ENTRY):
        await g.orders.cancel(tp)
    await h.move(1.005)
    await eventually(lambda: g.orders.position == 0)
    await g.cycle()
    assert await g.client.fetch_open_conditional_orders(SYMBOL) == []
    assert h.exchange_position() == 0
    states = [r.state for r in await h.store.backstops(position_id=g.holder.id)]  # type: ignore[union-attr]
    assert states == ["replaced", "cancelled"]


async def test_backstop_fills_while_the_grid_is_not_looking_and_the_grid_records_it_and_halts(harness_factory):  # noqa: F811
    h = await harness_factory("backpack")
    stop = D(str(h.price)) * D("0.98")
    g = h.grid(stop_price=stop, max_orders=1)  # one take-profit: no new entry rests below
    await g.start()
    await filled_once(h, g)
    await g.cycle()
    held = g.orders.position
    [bs] = await g.client.fetch_open_conditional_orders(SYMBOL)
    assert bs.size == held
    # perpdex does not cycle: the price runs through the stop, the exchange executes the backstop
    await h.move(0.97, settle_s=0)
    await eventually(lambda: h.exchange_position() == 0, timeout=15)
    assert await g.client.fetch_open_conditional_orders(SYMBOL) == []
    # the next cycle: the backstop's fill is the grid's own, the grid is flat and halted
    await g.cycle()
    assert g.state.halted and g.orders.position == 0 and not g.orders.live()
    assert h.exchange_position() == 0  # never reversed: nothing sold twice
    orders = await h.store.orders(g.name)
    [adopted] = [o for o in orders if o.role == OrderRole.BACKSTOP]
    assert adopted.order_id == bs.order_id and adopted.filled == held and adopted.status == "filled"
    assert not [o for o in orders if o.role == OrderRole.FLATTEN]  # the flatten found nothing to sell
    fills = await h.store.order_fills(g.name)
    assert sum((f.quantity if f.side == "buy" else -f.quantity for f in fills), D(0)) == 0
    engine = sorted(str(f.trade_id) for a in h.venue.accounts.values() for f in a.fills if f.symbol == SYMBOL)
    assert engine == sorted(f.trade_id for f in fills)  # every execution recorded once
    [row] = [r for r in await h.store.backstops(position_id=g.holder.id) if r.state == "fired"]  # type: ignore[union-attr]
    assert row.order_id == bs.order_id
    rep = await g.report()
    assert D(rep["realized_pnl"]) == D(rep["closed_price_pnl"]) - D(rep["fees"]) + D(rep["funding"])
    assert D(rep["closed_price_pnl"]) < 0  # stopped out at a loss, booked
    await g.cycle()
    assert g.state.halted and not g.orders.live() and h.exchange_position() == 0  # halted while breached


async def test_the_grids_own_flatten_takes_the_backstop_down_first(harness_factory):  # noqa: F811
    h = await harness_factory("lighter")
    g = h.grid(stop_price=D(str(h.price)) * D("0.97"), max_orders=1)
    await g.start()
    await filled_once(h, g)
    await g.cycle()
    assert len(await g.client.fetch_open_conditional_orders(SYMBOL)) == 1
    await g.flatten("test")
    assert await g.client.fetch_open_conditional_orders(SYMBOL) == []
    assert g.orders.position == 0 and h.exchange_position() == 0
    # the price then runs through the old stop: nothing triggers, nothing reverses
    await h.move(0.96)
    assert h.exchange_position() == 0


async def test_backstop_enabled_false_places_none_and_status_shows_the_price(harness_factory, tmp_path):  # noqa: F811
    h = await harness_factory("paradex")
    stop = D(str(h.price)) * D("0.97")
    off = h.grid(name="grid-off", stop_price=stop, max_orders=1, backstop={"enabled": False})
    await off.start()
    await filled_once(h, off)
    await off.cycle()
    assert await off.client.fetch_open_conditional_orders(SYMBOL) == [] and not stops_on_wire(h)
    await off.flatten("test")
    await off.stop()

    g = h.grid(name="grid-on", symbol="BTC", stop_price=None, stop_loss=D("0.05"), max_orders=1)
    await g.start()
    ep = h.cluster.endpoints[h.exchange]
    cfg = {"exchanges": {h.exchange: {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"],
                                      "options": {"ccxt": ep["ccxt"]}}},
           "storage": {"url": h.store.url},
           "strategies": [{"kind": "grid", "name": "grid-on", "exchange": h.exchange, "symbol": "BTC",
                           "order_notional_usd": 60, "stop_loss": 0.05}]}
    path = tmp_path / "status.yml"
    path.write_text(yaml.safe_dump(cfg))

    async def status() -> dict:
        res = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--config", str(path), "--json"])
        assert res.exit_code == 0, res.output
        return {p["id"]: p["backstops"] for p in json.loads(res.output)["positions"]}

    assert g.holder is not None
    assert (await status())[g.holder.id] == {"grid": "none: not placed yet"}  # flat
    await g.cycle()
    bid, _ = await g.fetch_touch()
    h.cluster.sim.index.prices["BTC"] = float(bid) * 0.9995
    await eventually(lambda: g.orders.position > 0 and covered(g) == g.orders.position)
    await g.cycle()
    [bs] = await g.client.fetch_open_conditional_orders("BTC")
    avg = (await g.lot_book_now()).avg_entry
    assert avg is not None and bs.trigger_price == expected_trigger(g, avg * D("0.95"))
    by = g.client.stop_trigger_types[0] if "mark" not in g.client.stop_trigger_types else "mark"
    shown = (await status())[g.holder.id]
    assert shown == {"grid": f"{bs.trigger_price.normalize():f} ({by}, {g.orders.position.normalize():f})"}
