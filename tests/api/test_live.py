"""The dashboard's API (perpdex.api.live).

* From storage only (``perpdex serve``, no run attached): positions valued at the stored marks and
  the cumulative PnL, against figures computed by hand.
* Attached to a run on the emulator (a funding-arb pair and a grid on one runtime, as ``perpdex
  run --dashboard``): every answer agrees with the store and the strategies, the event stream
  pushes state and events, and no credential of any exchange appears in any answer or the page.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpdex.api import create_app
from perpdex.api.live import LiveRun
from perpdex.app import runtime
from perpdex.secrets import secret_values
from perpdex.storage import OrderRole, Store
from perpdex.storage.models import FundingSnapshotRow
from perpdex.strategies.build import build_strategies
from tests.api.conftest import api_client, make_config, stored_api

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


async def _seed(store: Store) -> None:
    """A closed BTC pair and an open ETH pair (long aster, short lighter), and stored ETH marks."""
    closed = await store.create_position(symbol="BTC", long_exchange="aster", short_exchange="lighter", status="closed",
                                         quantity=D("0.1"), opened_at=at(0), closed_at=at(50))
    for phase, ex, side, qty, px, fee, t in [("open", "aster", "buy", "0.1", "100", "0.01", 1),
                                             ("open", "lighter", "sell", "0.1", "101", "0.02", 2),
                                             ("close", "aster", "sell", "0.1", "102", "0.01", 48),
                                             ("close", "lighter", "buy", "0.1", "100.5", "0.02", 49)]:
        await store.add_fill(closed.id, phase, exchange=ex, symbol="BTC", side=side, quantity=D(qty), price=D(px),
                             fee=D(fee), liquidity="taker", order_id=None, ts=at(t))
    await store.add_funding(closed.id, exchange="aster", symbol="BTC", amount=D("0.03"), rate=None, ts=at(10))
    await store.add_funding(closed.id, exchange="lighter", symbol="BTC", amount=D("0.04"), rate=None, ts=at(20))
    held = await store.create_position(symbol="ETH", long_exchange="aster", short_exchange="lighter", status="open",
                                       quantity=D(2), opened_at=at(60), entry_net_apr=D("0.5"))
    await store.add_fill(held.id, "open", exchange="aster", symbol="ETH", side="buy", quantity=D(2), price=D(10),
                         fee=D("0.005"), liquidity="taker", order_id=None, ts=at(61))
    await store.add_fill(held.id, "open", exchange="lighter", symbol="ETH", side="sell", quantity=D(2), price=D("10.2"),
                         fee=D("0.004"), liquidity="taker", order_id=None, ts=at(62))
    await store.add_funding(held.id, exchange="aster", symbol="ETH", amount=D("-0.01"), rate=None, ts=at(70))
    await store.add_funding(held.id, exchange="lighter", symbol="ETH", amount=D("0.02"), rate=None, ts=at(80))
    async with store.sessions() as s, s.begin():
        for ex, mark, rate in (("aster", "10.5", "0.0001"), ("lighter", "10.4", "0.00002")):
            hours = D(8) if ex == "aster" else D(1)
            s.add(FundingSnapshotRow(exchange=ex, symbol="ETH", collected_at=at(90), rate=D(rate), interval_hours=hours,
                                     rate_8h=D(rate) * 8 / hours, mark_price=D(mark), next_funding_time=at(3600)))


async def test_from_storage_positions_and_pnl_add_up_by_hand(tmp_path):
    cfg = make_config(tmp_path, {"aster": {}, "lighter": {}})
    async with stored_api(cfg) as (client, store):
        await _seed(store)
        [pos] = (await client.get("/api/live/positions")).json()["positions"]
        assert pos["symbol"] == "ETH" and pos["status"] == "open" and pos["funding_payments"] == 2
        long, short = pos["legs"]
        # long aster: cash -20, 2 held at the stored mark 10.5 -> +1.0; funding -0.01; fees 0.005
        assert (long["role"], long["exchange"], D(long["size"]), D(long["entry_price"])) == ("long", "aster", 2, 10)
        assert (D(long["mark_price"]), long["mark_source"]) == (D("10.5"), "stored")
        assert (D(long["unrealized_pnl"]), D(long["funding"]), D(long["fees"]), D(long["net"])) == (
            D("1.0"), D("-0.01"), D("0.005"), D("0.985"))
        # short lighter: cash +20.4, -2 at 10.4 -> -0.4; funding +0.02; fees 0.004
        assert (D(short["size"]), D(short["entry_price"]), D(short["unrealized_pnl"]), D(short["net"])) == (
            2, D("10.2"), D("-0.4"), D("-0.384"))
        assert long["liquidation_distance"] is None  # no run attached: no exchange to ask
        assert (D(pos["unrealized_pnl"]), D(pos["funding"]), D(pos["fees"]), D(pos["net"])) == (
            D("0.6"), D("0.01"), D("0.009"), D("0.601"))

        pnl = (await client.get("/api/live/pnl")).json()
        # funding 0.03+0.04-0.01+0.02 = 0.08; fees 0.06+0.009 = 0.069; the closed pair's price PnL
        # -10 + 10.1 + 10.2 - 10.05 = 0.25 (at its close); the open pair's price PnL is not realized
        assert (D(pnl["funding"]), D(pnl["fees"]), D(pnl["price_pnl"]), D(pnl["total"])) == (
            D("0.08"), D("0.069"), D("0.25"), D("0.261"))
        assert len(pnl["points"]) == 11  # 6 fills, 4 payments, 1 close
        assert [p["ts"] for p in pnl["points"]] == sorted(p["ts"] for p in pnl["points"])
        assert D(pnl["points"][-1]["pnl"]) == D("0.261")
        after_close = next(p for p in pnl["points"] if p["ts"].startswith("2026-03-02T12:00:50"))
        assert D(after_close["pnl"]) == D("0.25") + D("0.07") - D("0.06")
        few = (await client.get("/api/live/pnl", params={"max_points": 10})).json()
        assert len(few["points"]) <= 10 and few["points"][-1] == pnl["points"][-1]

        heat = (await client.get("/api/live/funding")).json()
        assert heat["source"] == "storage" and heat["attached"] is False
        assert {(c["symbol"], c["exchange"]) for c in heat["cells"]} == {("ETH", "aster"), ("ETH", "lighter")}
        cell = next(c for c in heat["cells"] if c["exchange"] == "aster")
        assert (D(cell["interval_hours"]), D(cell["apr"])) == (8, D("0.0001") / 8 * 8760)
        for path, key in (("/api/live/streams", "streams"), ("/api/live/events", "events"), ("/api/live/grid", "grids")):
            body = (await client.get(path)).json()
            assert body["attached"] is False and body[key] == []
        status = (await client.get("/api/live/status")).json()
        assert status["attached"] is False and status["exchanges"] == ["aster", "lighter"]


def _both(tmp_path):
    return make_config(
        tmp_path, {"aster": {}, "lighter": {}},
        sim={"enabled": True, "seed": 42, "funding_time_scale": 7200},
        strategies=[
            {"kind": "funding_arb", "size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "scan_interval_s": 0.5,
             "limit_timeout_s": 1.0, "max_positions": 1, "min_volume_24h_usd": 1_000_000,
             "exit": {"max_age_s": 600, "min_spread_apr": 0.05}},
            {"kind": "grid", "exchange": "lighter", "symbol": "ETH", "direction": "buy", "order_notional_usd": 50,
             "take_profit": 0.0005, "max_orders": 5, "wait_time_s": 0.5, "leverage": 3, "max_margin_usd": 1000},
        ])


async def test_attached_to_a_run_on_the_emulator(tmp_path):
    cfg = _both(tmp_path)
    store = Store(cfg.storage.url)
    await store.init()
    stop = asyncio.Event()
    try:
        async with runtime(cfg) as rt:
            strategies = build_strategies(cfg, rt, store)
            arb, grid = strategies
            live = LiveRun(arb.runtime, strategies)
            app = create_app(cfg, store=store, collect=False, live=live)
            async with api_client(app) as client:
                for s in strategies:
                    await s.start()
                runs = [asyncio.create_task(s.run(None, stop)) for s in strategies]
                hub = app.state.live_hub
                queue = hub.subscribe()
                try:
                    for _ in range(300):  # bounded: a pair that never opens fails the test
                        positions = (await client.get("/api/live/positions")).json()["positions"]
                        if (positions and all(D(leg["funding"]) > 0 for leg in positions[0]["legs"])
                                and grid.orders.live(OrderRole.TAKE_PROFIT)):
                            break
                        await asyncio.sleep(0.1)
                    answers = {p: (await client.get(f"/api/live/{p}")).json()
                               for p in ("status", "funding", "opportunities", "positions", "grid", "streams",
                                         "events", "pnl")}
                    page = (await client.get("/")).text
                    script = (await client.get("/static/dashboard.js")).text
                    arb.runtime.event("a line for the dashboard test")
                    messages = []
                    while not any(m and m.startswith("event: event") and "dashboard test" in m for m in messages):
                        messages.append(await asyncio.wait_for(queue.get(), 20))
                finally:
                    hub.unsubscribe(queue)
                    stop.set()
                    await asyncio.gather(*runs, return_exceptions=True)
                    await grid.stop()
                settled = (await client.get("/api/live/positions")).json()  # nothing is written any more

                assert answers["status"]["attached"] is True
                assert [s["kind"] for s in answers["status"]["strategies"]] == ["funding_arb", "grid"]
                [pos] = settled["positions"]
                assert [p["id"] for p in answers["positions"]["positions"]] == [pos["id"]]
                assert (pos["symbol"], pos["legs"][0]["exchange"], pos["legs"][1]["exchange"]) == ("0G", "aster", "lighter")
                stored_funding = await store.funding(pos["id"])
                fills = await store.fills(pos["id"])
                assert pos["funding_payments"] == len(stored_funding) >= 2
                for leg in pos["legs"]:
                    mine = [f for f in fills if f.exchange == leg["exchange"]]
                    assert D(leg["size"]) == sum((f.quantity for f in mine), D(0)) > 0
                    assert D(leg["fees"]) == sum((f.fee for f in mine), D(0))
                    assert D(leg["funding"]) == sum((p.amount for p in stored_funding if p.exchange == leg["exchange"]),
                                                    D(0))
                    assert leg["mark_source"] in ("live", "book") and D(leg["mark_price"]) > 0
                    assert D(leg["net"]) == D(leg["unrealized_pnl"]) + D(leg["funding"]) - D(leg["fees"])
                    assert leg["liquidation_price"] is not None and 0 < D(leg["liquidation_distance"]) <= 1
                # both legs receive funding on 0G (long where negative, short where positive)
                assert all(D(leg["funding"]) > 0 for leg in pos["legs"])

                [g] = answers["grid"]["grids"]
                assert (g["exchange"], g["symbol"], g["direction"]) == ("lighter", "ETH", "buy")
                assert g["resting_take_profits"] and all(o["role"] == "take_profit" and o["side"] == "sell"
                                                         for o in g["resting_take_profits"])
                assert D(g["realized_pnl"]) == D(g["closed_price_pnl"]) - D(g["fees"]) + D(g["funding"])
                assert D(g["open_quantity"]) > 0

                heat = answers["funding"]
                snap = arb.last_snapshot
                assert heat["source"] == "live" and heat["exchanges"] == ["aster", "lighter"]
                assert len(heat["cells"]) == sum(len(v) for v in snap.rates.values()) == 20
                opps = answers["opportunities"]["opportunities"]
                nets = [D(o["net_apr"]) for o in opps]
                assert nets == sorted(nets, reverse=True) and opps[0]["symbol"] == "0G" and opps[0]["held"]
                kinds = {(s["exchange"], s["kind"]) for s in answers["streams"]["streams"]}
                assert kinds == {("aster", "market"), ("aster", "user"), ("lighter", "market"), ("lighter", "user")}
                assert all(s["state"] in ("connected", "connecting", "paused") for s in answers["streams"]["streams"])
                assert any(e["message"].startswith("opened #") for e in answers["events"]["events"])
                assert answers["pnl"]["points"] and D(answers["pnl"]["funding"]) > 0

                state = [json.loads(m.split("data: ", 1)[1]) for m in messages if m and m.startswith("event: state")][-1]
                assert set(state) == {"status", "funding", "opportunities", "positions", "grid", "streams"}
                assert state["positions"]["positions"][0]["id"] == pos["id"]

                # no credential of any exchange (config, emulator's ccxt options) in any answer or the page
                secrets = secret_values({n: {"credentials": c.settings.credentials, "options": c.settings.options}
                                         for n, c in rt.clients.items()})
                secrets = [s for s in secrets if len(s) >= 12 and not s.startswith(("http", "ws"))]
                assert secrets  # the emulator's keys are there to be looked for
                text = json.dumps(answers) + page + script + "".join(m for m in messages if m)
                leaked = [s[:6] + "..." for s in secrets if s.lower() in text.lower()]
                assert leaked == []
    finally:
        await store.close()
