"""The emulator engine's conditional (stop-market) orders (perpdex.sim.conditional): resting,
listing, cancelling, triggering on mark / last price, reduce-only capping, refusal at placement."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.sim.engine import IndexProcess, MarketSpec, OrderEvent, SimError, Venue


def make_venue() -> Venue:
    spec = MarketSpec("BTC", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"), 50,
                      funding_rate=0.0001, level_size=2.0, taker_fee=0.0005, maker_fee=0.0001)
    return Venue("v", [spec], IndexProcess({"BTC": 100_000.0}, seed=3), starting_balance=100_000.0)


def test_reduce_only_stop_rests_then_triggers_on_the_mark_and_reduces_the_position():
    v = make_venue()
    v.place_order("a", "BTC", "buy", 0.5, order_type="market")
    events: list[OrderEvent] = []
    v.subscribe(lambda ev: events.append(ev) if isinstance(ev, OrderEvent) else None)
    stop = v.conditional.place("a", "BTC", "sell", 0.2, 95_000.0, client_id="bs-1")
    assert stop.status == "untriggered" and stop.is_open and stop.reduce_only
    assert v.conditional.open("a", "BTC") == [stop]
    assert v.find_order("a", "BTC", client_id="bs-1") is stop
    v.step()
    assert stop.status == "untriggered"  # the mark is still above the trigger
    v.index.prices["BTC"] = 94_000.0
    v.step()
    assert stop.status == "filled" and stop.triggered_ms is not None and stop.filled == pytest.approx(0.2)
    assert v.account("a").positions["BTC"].qty == pytest.approx(0.3)
    assert v.conditional.open("a") == []
    mine = [e for e in events if e.order is stop]
    assert mine[0].fill is None and mine[0].ts == stop.created_ms  # placed, triggered, filled
    assert mine[1].fill is None and mine[1].ts == stop.triggered_ms and mine[-1].fill is not None
    assert [e.fill.qty for e in events if e.order is stop and e.fill is not None] == [pytest.approx(0.2)]


def test_a_stop_larger_than_the_position_never_reverses_it():
    v = make_venue()
    v.place_order("a", "BTC", "sell", 0.1, order_type="market")
    stop = v.conditional.place("a", "BTC", "buy", 1.0, 105_000.0)
    v.index.prices["BTC"] = 106_000.0
    v.step()
    assert stop.status == "filled" and stop.filled == pytest.approx(0.1)
    assert v.account("a").positions["BTC"].qty == 0
    # with nothing left to reduce, a second reduce-only stop expires at trigger time
    again = v.conditional.place("a", "BTC", "sell", 0.1, 100_000.0)
    v.index.prices["BTC"] = 99_000.0
    v.step()
    assert again.status == "expired" and again.cancel_reason == "reduce_only" and again.filled == 0
    assert v.account("a").positions["BTC"].qty == 0


def test_close_position_takes_the_whole_position_at_trigger_time():
    v = make_venue()
    v.place_order("a", "BTC", "buy", 0.3, order_type="market")
    stop = v.conditional.place("a", "BTC", "sell", 0.0, 97_000.0, close_position=True)
    v.place_order("a", "BTC", "buy", 0.2, order_type="market")  # the position grew meanwhile
    v.index.prices["BTC"] = 96_000.0
    v.step()
    assert stop.filled == pytest.approx(0.5) and v.account("a").positions["BTC"].qty == 0


def test_trigger_on_last_price_uses_the_last_fill_until_the_next_step():
    v = make_venue()
    c = v.conditional
    v.place_order("a", "BTC", "buy", 0.1, order_type="market")
    last = v.account("a").fills[-1].price
    assert c.reference_price("BTC", "last") == last != v.mark_price("BTC")
    v.step()
    assert c.reference_price("BTC", "last") == v.mark_price("BTC")
    stop = c.place("a", "BTC", "sell", 0.1, 95_000.0, trigger_by="last")
    assert stop.trigger_by == "last"
    with pytest.raises(SimError) as err:
        c.place("a", "BTC", "sell", 0.1, 95_000.0, trigger_by="bogus")
    assert err.value.kind == "invalid"


def test_refusals_cancel_and_trigger_direction():
    v = make_venue()
    mark = v.mark_price("BTC")
    with pytest.raises(SimError) as err:
        v.conditional.place("a", "BTC", "sell", 0.1, round(mark + 100, 1))  # sell stop above the mark
    assert err.value.kind == "would_trigger" and "immediately trigger" in err.value.message
    with pytest.raises(SimError) as err:
        v.conditional.place("a", "BTC", "buy", 0.1, round(mark - 100, 1))
    assert err.value.kind == "would_trigger"
    with pytest.raises(SimError) as err:
        v.conditional.place("a", "BTC", "sell", 0.1, 95_000.05)
    assert err.value.kind == "invalid"
    # an explicit direction: a sell that fires on the way up (a take-profit shape)
    tp = v.conditional.place("a", "BTC", "sell", 0.1, round(mark + 100, 1), trigger_above=True)
    assert v.cancel_order("a", "BTC", tp.id).status == "canceled"
    assert v.conditional.open("a") == []
    with pytest.raises(SimError):
        v.cancel_order("a", "BTC", tp.id)
