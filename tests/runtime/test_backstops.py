"""Backstops (runtime/backstops.py) on the four emulated exchanges over real loopback sockets,
with real clients and SQLite storage; the market process is stopped, so prices move only when a
test moves them (``sim.step()``).

Each leg's backstop is read back from the exchange (``fetch_open_conditional_orders``) and from
the emulator's own record of the request it received (reduce-only, side, size)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.config import BackstopConfig
from perpdex.models import Side
from perpdex.runtime.backstops import BackstopManager, backstop_trigger, describe, safer_fraction
from perpdex.runtime.core import TradingRuntime
from perpdex.runtime.events import EventKind
from perpdex.runtime.ids import ClientIds
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from tests.execution.emulated import make_client

D = Decimal
SYMBOL = "ETH"
EXCHANGES = ("aster", "lighter", "backpack", "paradex")
FRACTION = D("0.3")


@pytest.fixture
async def env(tmp_path):
    cluster = await start_emulators(list(EXCHANGES), run_market=False)
    clients = {n: make_client(cluster, n) for n in EXCHANGES}
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'bs.db'}")
    await store.init()
    rt = TradingRuntime(clients, store)
    await rt.start()
    try:
        yield cluster, rt
    finally:
        await rt.close()
        await store.close()
        await cluster.stop()


def stops_on_wire(cluster, name: str) -> list:
    """Every stop-market order the emulated ``name`` received from our account, oldest first."""
    venue = cluster.sim.venue(name)
    return [o for a in venue.accounts.values() for o in a.orders.values() if o.type == "stop_market"]


def engine_qty(cluster, name: str) -> float:
    venue = cluster.sim.venue(name)
    return sum(p.qty for a in venue.accounts.values() for s, p in a.positions.items() if s == SYMBOL)


async def expected_trigger(rt, exchange: str, side: Side, fraction: Decimal) -> Decimal:
    """The trigger of a leg on ``exchange`` (``side`` the position's) from what the exchange
    reports now: its mark (else the BBO mid) and liquidation price, rounded toward the mark."""
    client = rt.clients[exchange]
    snap = await client.fetch_position(SYMBOL)
    mark = snap.mark_price
    if not mark:
        bid, ask = await client.fetch_bbo_prices(SYMBOL)
        mark = (bid + ask) / 2
    assert snap.liquidation_price, f"{exchange} reports no liquidation price"
    c = await client.contract_attributes(SYMBOL)
    stop_side = Side.SELL if side is Side.BUY else Side.BUY
    return c.round_price(backstop_trigger(mark, snap.liquidation_price, fraction), stop_side)


async def open_pair(rt, long: str, short: str, qty: Decimal):
    await rt.clients[long].place_market_order(SYMBOL, Side.BUY, qty)
    await rt.clients[short].place_market_order(SYMBOL, Side.SELL, qty)
    return await rt.store.create_position(strategy="bs", symbol=SYMBOL, long_exchange=long, short_exchange=short,
                                          status="open", quantity=qty, leverage=D(3))


async def check_resting(cluster, rt, mgr, pos, fraction: Decimal = FRACTION) -> None:
    """Each leg: exactly one backstop on its exchange, for the leg's full size, reduce-only, by
    mark, at the configured fraction of the way to the liquidation price; and on the wire."""
    current = await mgr.current(pos.id)
    for leg, ex, side in (("long", pos.long_exchange, Side.BUY), ("short", pos.short_exchange, Side.SELL)):
        held = abs(D(str(engine_qty(cluster, ex))))
        [info] = await rt.clients[ex].fetch_open_conditional_orders(SYMBOL)
        row = current[leg]
        assert row.state == "resting" and row.order_id == info.order_id, (ex, row.state, row.reason)
        assert info.side is (Side.SELL if side is Side.BUY else Side.BUY), ex
        assert info.size == held == row.quantity, (ex, info.size, held)
        assert info.reduce_only and info.trigger_by == "mark" and info.client_order_id == row.client_order_id
        assert info.trigger_price == row.trigger_price == await expected_trigger(rt, ex, side, fraction), ex
        # the request the exchange received: reduce-only, never larger than the leg
        wire = [o for o in stops_on_wire(cluster, ex) if o.status == "untriggered"]
        assert len(wire) == 1 and wire[0].reduce_only and D(str(wire[0].qty)) <= held, ex


PAIRS = [("aster", "lighter"), ("lighter", "aster"), ("backpack", "paradex"), ("paradex", "backpack")]


@pytest.mark.parametrize("long, short", PAIRS, ids=["-".join(p) for p in PAIRS])
async def test_backstops_rest_at_the_configured_price_follow_resizes_and_go_with_the_pair(env, long, short):
    cluster, rt = env
    events = []
    rt.events.subscribe(events.append)
    mgr = BackstopManager(rt, "bs", BackstopConfig(fraction_to_liquidation=FRACTION), ClientIds("bs"))
    pos = await open_pair(rt, long, short, D("0.5"))
    await mgr.sync_pair(pos)
    await check_resting(cluster, rt, mgr, pos)
    assert [e.data["leg"] for e in events if e.kind is EventKind.BACKSTOP_PLACED] == ["long", "short"]
    first = dict(await mgr.current(pos.id))
    await mgr.sync_pair(pos)  # nothing changed: nothing sent
    assert len(stops_on_wire(cluster, long)) == len(stops_on_wire(cluster, short)) == 1

    # a partial repair: both legs 0.2 smaller -> both backstops resized, the old ones cancelled
    await rt.clients[long].place_market_order(SYMBOL, Side.SELL, D("0.2"), reduce_only=True)
    await rt.clients[short].place_market_order(SYMBOL, Side.BUY, D("0.2"), reduce_only=True)
    pos = await rt.store.update_position(pos.id, quantity=D("0.3"))
    await mgr.sync_pair(pos)
    await check_resting(cluster, rt, mgr, pos)
    for leg, ex in (("long", long), ("short", short)):
        old = [o for o in stops_on_wire(cluster, ex) if str(o.client_id) == first[leg].client_order_id]
        assert old and old[0].status in ("canceled", "cancelled"), (ex, old and old[0].status)

    # a top-up: both legs 0.4 larger -> resized up
    await rt.clients[long].place_market_order(SYMBOL, Side.BUY, D("0.4"))
    await rt.clients[short].place_market_order(SYMBOL, Side.SELL, D("0.4"))
    pos = await rt.store.update_position(pos.id, quantity=D("0.7"))
    await mgr.sync_pair(pos)
    await check_resting(cluster, rt, mgr, pos)

    # a leg holding more than stored (a manual trade): the backstop covers only our leg
    await rt.clients[long].place_market_order(SYMBOL, Side.BUY, D("0.1"))
    await mgr.sync_pair(pos)
    [info] = await rt.clients[long].fetch_open_conditional_orders(SYMBOL)
    assert info.size == D("0.7")
    await rt.clients[long].place_market_order(SYMBOL, Side.SELL, D("0.1"), reduce_only=True)

    # the pair closes: both backstops gone from the exchanges
    await mgr.cancel_position(pos, "pair closing")
    for ex in (long, short):
        assert await rt.clients[ex].fetch_open_conditional_orders(SYMBOL) == []
        assert all(o.status != "untriggered" for o in stops_on_wire(cluster, ex))
    assert {r.state for r in await rt.store.backstops(position_id=pos.id)} == {"cancelled", "replaced"}


async def test_a_refused_backstop_is_retried_further_from_the_mark_then_reported_none(env, tmp_path):
    cluster, rt = env
    events = []
    rt.events.subscribe(events.append)
    long, short = "aster", "paradex"
    mgr = BackstopManager(rt, "bs", BackstopConfig(fraction_to_liquidation=FRACTION), ClientIds("bs"))
    pos = await open_pair(rt, long, short, D("0.5"))
    cluster.sim.venue(long).faults.inject("stop_reject", count=1, symbol=SYMBOL)  # refused once
    cluster.sim.venue(short).faults.inject("stop_reject", count=2, symbol=SYMBOL)  # refused twice
    await mgr.sync_pair(pos)

    # long: the retry rests, further from the mark than the refused price
    [info] = await rt.clients[long].fetch_open_conditional_orders(SYMBOL)
    assert info.trigger_price == await expected_trigger(rt, long, Side.BUY, safer_fraction(FRACTION))
    assert info.trigger_price < await expected_trigger(rt, long, Side.BUY, FRACTION)
    # short: nothing rests, and it is said: the row, an event with the exchange's error, the status
    assert await rt.clients[short].fetch_open_conditional_orders(SYMBOL) == []
    cur = await mgr.current(pos.id)
    assert cur["short"].state == "failed" and "trigger" in cur["short"].reason and "[paradex]" in cur["short"].reason
    failed = [e for e in events if e.kind is EventKind.BACKSTOP_FAILED]
    assert [(e.data["leg"], e.data.get("retrying", False)) for e in failed] == [
        ("long", True), ("short", True), ("short", False)]
    assert all("[" in e.data["reason"] for e in failed)  # the exchange's own message
    shown = describe(await rt.store.backstops(position_id=pos.id), ["long", "short"])
    assert shown["long"] == f"{info.trigger_price.normalize():f} (mark, 0.5)"
    assert shown["short"].startswith("none: refused: [paradex]")

    # perpdex status lists each open leg with its backstop price or "none: <reason>"
    cfg = {"exchanges": {n: {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"], "options": {"ccxt": ep["ccxt"]}}
                         for n, ep in cluster.endpoints.items() if n in (long, short)},
           "storage": {"url": rt.store.url}}
    path = tmp_path / "status.yml"
    path.write_text(yaml.safe_dump(cfg))
    res = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--config", str(path), "--json", "-s", SYMBOL])
    assert res.exit_code == 0, res.output
    [row] = json.loads(res.output)["positions"]
    assert row["backstops"] == shown

    # the next check places the missing one (the fault is spent)
    await mgr.sync_pair(pos)
    [info] = await rt.clients[short].fetch_open_conditional_orders(SYMBOL)
    assert info.trigger_price == await expected_trigger(rt, short, Side.SELL, FRACTION)


async def test_a_fired_backstop_is_found_and_its_fills_stored_as_the_legs_close(env):
    cluster, rt = env
    long, short = "backpack", "lighter"
    mgr = BackstopManager(rt, "bs", BackstopConfig(fraction_to_liquidation=FRACTION), ClientIds("bs"))
    pos = await open_pair(rt, long, short, D("0.5"))
    await mgr.sync_pair(pos)
    assert await mgr.collect_fired(pos) is None
    row = (await mgr.current(pos.id))["long"]
    venue = cluster.sim.venue(long)
    # the long venue's price falls through the backstop (not as far as the liquidation price)
    venue.index.prices[SYMBOL] *= float(row.trigger_price) / venue.mark_price(SYMBOL) * 0.99
    cluster.sim.step()
    assert engine_qty(cluster, long) == 0  # the exchange closed the leg, nothing reversed
    hit = await mgr.collect_fired(pos)
    assert hit is not None and hit.row.leg == "long" and hit.qty == D("0.5")
    assert hit.reason().startswith("backstop: backpack long leg stopped at ")
    stored = [f for f in await rt.store.fills(pos.id) if f.phase == "close"]
    assert sum(f.quantity for f in stored) == D("0.5") and {f.order_id for f in stored} == {row.order_id}
    assert (await mgr.current(pos.id))["long"].state == "fired"
    assert await mgr.collect_fired(pos) is None  # handled once; the fills are not stored twice


async def test_a_backstop_moves_when_the_liquidation_price_moves_beyond_reprice_fraction(env):
    cluster, rt = env
    long, short = "aster", "lighter"
    mgr = BackstopManager(rt, "bs", BackstopConfig(fraction_to_liquidation=FRACTION, reprice_fraction=D("0.02")),
                          ClientIds("bs"))
    await rt.clients[long].set_leverage(SYMBOL, D(3))
    pos = await open_pair(rt, long, short, D("0.5"))
    await mgr.sync_pair(pos)
    before = (await mgr.current(pos.id))["long"]
    # a move of the liquidation price within reprice_fraction: the backstop stays
    await rt.clients[long].set_leverage(SYMBOL, D("3.1"))
    liq = (await rt.clients[long].fetch_position(SYMBOL)).liquidation_price
    assert abs(liq - before.liquidation_price) <= D("0.02") * before.liquidation_price
    await mgr.sync_pair(pos)
    assert (await mgr.current(pos.id))["long"].id == before.id
    # lower leverage: the liquidation price moves far (away from the mark): the backstop follows it
    await rt.clients[long].set_leverage(SYMBOL, D(2))
    await mgr.sync_pair(pos)
    await check_resting(cluster, rt, mgr, pos)
    after = (await mgr.current(pos.id))["long"]
    assert after.id != before.id and after.trigger_price < before.trigger_price
    assert {r.id: r.state for r in await rt.store.backstops(position_id=pos.id)}[before.id] == "replaced"


async def test_backstop_enabled_false_places_nothing_and_status_says_so(env):
    cluster, rt = env
    mgr = BackstopManager(rt, "bs", BackstopConfig(enabled=False), ClientIds("bs"))
    pos = await open_pair(rt, "lighter", "backpack", D("0.5"))
    await mgr.sync_pair(pos)
    assert not stops_on_wire(cluster, "lighter") and not stops_on_wire(cluster, "backpack")
    shown = describe(await rt.store.backstops(position_id=pos.id), ["long", "short"],
                     enabled=False)
    assert shown == {"long": "none: backstops off (backstop.enabled: false)",
                     "short": "none: backstops off (backstop.enabled: false)"}
