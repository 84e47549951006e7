"""The emulator engine: matching, fees, margin, reduce-only, funding signs, book events, faults."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from perpdex.sim.engine import BookEvent, FundingEvent, IndexProcess, MarketSpec, SimError, Venue
from perpdex.sim.scenario import build_simulation, load_scenario


def make_venue(**kw) -> Venue:
    spec = MarketSpec("BTC", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"), 50,
                      funding_rate=0.0001, level_size=2.0, taker_fee=0.0005, maker_fee=0.0001)
    return Venue("v", [spec], IndexProcess({"BTC": 100_000.0}, seed=3), starting_balance=100_000.0, **kw)


def test_market_order_walks_the_book_and_charges_taker_fee():
    v = make_venue()
    (bid, _), (ask, ask_size) = v.bbo("BTC")
    assert ask > bid
    o = v.place_order("a", "BTC", "buy", 0.5, order_type="market")
    assert o.status == "filled" and o.filled == 0.5
    assert o.avg_price >= ask
    assert o.fee == pytest.approx(0.5 * o.avg_price * 0.0005)
    pos = v.account("a").positions["BTC"]
    assert pos.qty == 0.5 and pos.entry_price == pytest.approx(o.avg_price)
    assert v.account("a").balance == pytest.approx(100_000.0 - o.fee)


def test_resting_limit_shows_in_book_and_post_only_cross_expires():
    v = make_venue()
    (bid, _), (ask, _) = v.bbo("BTC")
    o = v.place_order("a", "BTC", "buy", 0.3, price=round(bid - 0.5, 1))
    assert o.status == "new"
    bids, _ = v.book("BTC")
    assert dict(bids)[round(bid - 0.5, 1)] >= 0.3
    crossing = v.place_order("a", "BTC", "buy", 0.1, price=ask, tif="post_only")
    assert crossing.status == "expired" and crossing.filled == 0
    v.cancel_order("a", "BTC", o.id)
    with pytest.raises(SimError) as e:
        v.cancel_order("a", "BTC", o.id)
    assert e.value.kind == "not_found"


def test_reduce_only_never_flips_and_rejects_when_flat():
    v = make_venue()
    with pytest.raises(SimError) as e:
        v.place_order("a", "BTC", "sell", 0.1, order_type="market", reduce_only=True)
    assert e.value.kind == "reduce_only"
    v.place_order("a", "BTC", "buy", 0.2, order_type="market")
    o = v.place_order("a", "BTC", "sell", 1.0, order_type="market", reduce_only=True)
    assert o.filled == 0.2
    assert v.account("a").positions["BTC"].qty == 0.0


def test_validation_errors_name_the_problem():
    v = make_venue()
    for kwargs, kind in [
        (dict(qty=0.0005, order_type="market"), "invalid"),  # not a lot multiple
        (dict(qty=0.001, price=100_000.05), "invalid"),  # not a tick multiple
        (dict(qty=0.00001 * 0 + 0.001, price=1000.0), "invalid"),  # notional 1 USD < 5
        (dict(qty=50.0, order_type="market"), "margin"),  # 5M notional on 100k at 5x
    ]:
        with pytest.raises(SimError) as e:
            v.place_order("a", "BTC", "buy", **kwargs)
        assert e.value.kind == kind, kwargs
    with pytest.raises(SimError):
        v.place_order("a", "NOPE", "buy", 1.0, order_type="market")


def test_funding_signs_long_pays_short_receives_on_positive_rate():
    v = make_venue(funding_time_scale=3600 * 8 * 20)  # 8h interval pays every 50 ms
    events = []
    v.subscribe(events.append)
    v.place_order("long", "BTC", "buy", 0.1, order_type="market")
    v.place_order("short", "BTC", "sell", 0.1, order_type="market")
    deadline = time.time() + 2
    while not v.account("long").fundings and time.time() < deadline:
        time.sleep(0.06)
        v.step()
    lp, sp = v.account("long").fundings[0], v.account("short").fundings[0]
    assert lp.amount < 0 < sp.amount
    assert lp.amount == pytest.approx(-0.1 * lp.mark * 0.0001)
    assert any(isinstance(e, FundingEvent) for e in events)


def test_book_events_chain_and_gap_fault_breaks_the_chain():
    v = make_venue()
    events: list[BookEvent] = []
    v.subscribe(lambda e: events.append(e) if isinstance(e, BookEvent) else None)
    for _ in range(5):
        v.index.step()
        v.step()
    assert events and all(b.prev_seq == a.seq for a, b in zip(events, events[1:]))
    v.faults.inject("gap", symbol="BTC")
    n = len(events)
    while len(events) == n:
        v.index.step()
        v.step()
    assert events[n].prev_seq != events[n - 1].seq


def test_default_scenario_is_calibrated():
    data = load_scenario()
    sim = build_simulation(funding_time_scale=720)
    a, lt = sim.venue("aster"), sim.venue("lighter")
    common = set(a.markets) & set(lt.markets)
    assert len(common) >= 8
    # BTC top-of-book spread is one tick on both
    for v in (a, lt):
        (bid, _), (ask, _) = v.bbo("BTC")
        assert ask - bid == pytest.approx(float(v.markets["BTC"].tick_size))
    # baseline funding about 1e-4 per 8h; outliers about 1e-4 per hour
    assert a.markets["BTC"].funding_rate == pytest.approx(1e-4)
    hourly = {s: abs(lt.markets[s].funding_rate) for s in common}
    assert max(hourly.values()) >= 1e-4
    assert data["venues"]["aster"]["taker_fee"] == 0.00035
