"""The emulator engine's liquidation: the maintenance-margin rule on mark moves, forced liquidation
and auto-deleveraging (control and faults), leverage faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.sim.engine import IndexProcess, MarketSpec, OrderEvent, SimError, Venue


def make_venue() -> Venue:
    spec = MarketSpec("BTC", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"), 50,
                      funding_rate=0.0001, level_size=2.0, taker_fee=0.0005, maker_fee=0.0001)
    return Venue("v", [spec], IndexProcess({"BTC": 100_000.0}, seed=3), starting_balance=100_000.0)


def open_long(v: Venue, lev: int = 20, qty: float = 0.5) -> float:
    v.set_leverage("a", "BTC", lev)
    o = v.place_order("a", "BTC", "buy", qty, order_type="market")
    return o.avg_price


def test_liquidation_price_follows_the_maintenance_margin_rule():
    v = make_venue()
    entry = open_long(v, lev=20)
    mmf = 0.5 / 50
    assert v.market("BTC").maintenance_margin_fraction == mmf
    liq = v.liquidation_price("a", "BTC")
    assert liq == pytest.approx(entry * (1 - 1 / 20) / (1 - mmf))
    # at that price the position's margin plus its PnL equals its maintenance margin
    qty = 0.5
    assert qty * entry / 20 + qty * (liq - entry) == pytest.approx(mmf * qty * liq)
    v.place_order("b", "BTC", "sell", 0.2, order_type="market")
    v.set_leverage("b", "BTC", 10)
    short_entry = v.account("b").positions["BTC"].entry_price
    assert v.liquidation_price("b", "BTC") == pytest.approx(short_entry * (1 + 1 / 10) / (1 + mmf))


def test_mark_moving_past_the_liquidation_price_liquidates_the_position():
    v = make_venue()
    open_long(v, lev=20)
    v.place_order("a", "BTC", "buy", 0.1, price=50_000.0)  # resting order, canceled by the liquidation
    events: list[OrderEvent] = []
    v.subscribe(lambda ev: events.append(ev) if isinstance(ev, OrderEvent) else None)
    v.step()
    assert v.account("a").positions["BTC"].qty == 0.5  # an ordinary step: nothing happens
    liq = v.liquidation_price("a", "BTC")
    v.index.prices["BTC"] = liq * 0.99  # the market falls through it
    balance = v.account("a").balance
    v.step()
    assert v.account("a").positions["BTC"].qty == 0
    [fill] = [e.fill for e in events if e.fill is not None]
    assert fill.system == "liquidation" and fill.side == "sell" and fill.qty == 0.5
    assert fill.realized_pnl < 0 and v.account("a").balance < balance
    order = v.account("a").orders[fill.order_id]
    assert order.system == "liquidation" and order.client_id.startswith("autoclose-") and order.reduce_only
    assert v.open_orders("a", "BTC") == []


def test_forced_liquidation_and_adl_controls():
    v = make_venue()
    open_long(v, lev=5, qty=0.4)
    fill = v.liquidate("a", "BTC", 0.1, adl=True)
    assert fill is not None and fill.system == "adl" and fill.qty == pytest.approx(0.1)
    assert v.account("a").positions["BTC"].qty == pytest.approx(0.3)
    assert v.account("a").orders[fill.order_id].client_id.startswith("adl_autoclose-")
    assert v.liquidate("a", "BTC").qty == pytest.approx(0.3)
    assert v.account("a").positions["BTC"].qty == 0
    assert v.liquidate("a", "BTC") is None  # flat: nothing to do


def test_liquidate_and_adl_faults_hit_every_holder_on_the_next_step():
    v = make_venue()
    open_long(v, lev=5, qty=0.4)
    v.place_order("b", "BTC", "sell", 0.2, order_type="market")
    v.faults.inject("adl", symbol="BTC", value=0.5)
    v.step()
    assert v.account("a").positions["BTC"].qty == pytest.approx(0.2)
    assert v.account("b").positions["BTC"].qty == pytest.approx(-0.1)
    v.faults.inject("liquidate", symbol="BTC")
    v.step()
    assert v.account("a").positions["BTC"].qty == 0 and v.account("b").positions["BTC"].qty == 0


def test_leverage_faults_reject_or_ignore_the_change():
    v = make_venue()
    v.faults.inject("leverage_reject", symbol="BTC")
    with pytest.raises(SimError) as err:
        v.set_leverage("a", "BTC", 7)
    assert err.value.kind == "invalid"
    v.faults.inject("leverage_ignore", symbol="BTC")
    assert v.set_leverage("a", "BTC", 7) == 7  # acknowledged ...
    assert v.leverage("a", "BTC") == 5  # ... but not applied
    v.set_leverage("a", "BTC", 7)
    assert v.leverage("a", "BTC") == 7
