"""A close that meets a leg below its market's minimum order size (the fault test's seed 123,
trial 5: ``0G aster->lighter``, lighter's 1.4 below its minimum 5 after faults left the legs
unequal): the executor must not close the other leg alone. The pair stays hedged, is reported as
dust (not naked), and :meth:`AtomicPairExecutor.sweep_dust` closes it later: both legs topped up
to a tradable size, then closed together, within the fee cap.
"""

from __future__ import annotations

from decimal import Decimal

from perpdex.execution.atomic import AtomicPairExecutor, CloseLeg, ExecutionConfig, close_quantities
from perpdex.execution.fills import FillRecord
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.tactics import TacticConfig
from perpdex.models import ContractAttributes, Side
from perpdex.sim.server import start_emulators
from tests.execution.emulated import engine_position, make_client

D = Decimal
TACTIC = TacticConfig(order_timeout_s=2.0, poll_interval_s=0.02)


def market(lot: str, min_size: str, multiplier: str = "1") -> ContractAttributes:
    return ContractAttributes(exchange="x", symbol="X", contract_id="X", tick_size=D("0.01"), lot_size=D(lot), min_size=D(min_size),
                              min_notional=D(10), multiplier=D(multiplier))


def test_close_quantities_never_takes_a_leg_below_what_the_other_can_reach() -> None:
    lot1, fine = market("1", "1"), market("0.1", "5")
    # the seed-123 pair: 1.0 long where a lot is 1, 1.4 short below its minimum 5: neither trades
    assert close_quantities([CloseLeg(lot1, D(1), Side.SELL, D(1)), CloseLeg(fine, D("-1.4"), Side.BUY, D("1.4"))]) == [0, 0]
    # a larger long leg comes down to the short's 1.4 (rounded down to its lot: never below it)
    assert close_quantities([CloseLeg(lot1, D(3), Side.SELL, D(3)), CloseLeg(fine, D("-1.4"), Side.BUY, D("1.4"))]) == [1, 0]
    # both tradable: the whole close (the reduce-only legs are exempt from the minimum notional)
    assert close_quantities([CloseLeg(lot1, D(7), Side.SELL, D(7)), CloseLeg(fine, D("-7"), Side.BUY, D(7))]) == [7, 7]
    # a short leg of 7.4 comes down to what the long (7) leaves: 0.4 would be below its minimum, so all of it
    assert close_quantities([CloseLeg(lot1, D(7), Side.SELL, D(7)), CloseLeg(fine, D("-7.4"), Side.BUY, D("7.4"))]) == [7, D("7.4")]
    # a partial close whose rest on one leg would be more than the other can shed: held back to match
    assert close_quantities([CloseLeg(lot1, D(9), Side.SELL, D(9)), CloseLeg(fine, D("-9"), Side.BUY, D("4.9"))]) == [0, 0]
    assert close_quantities([CloseLeg(lot1, D(9), Side.SELL, D(9)), CloseLeg(fine, D("-9"), Side.BUY, D(5))]) == [5, 5]
    # a leg whose partner holds nothing (liquidated) closes alone; a leg on the wrong side trades nothing
    assert close_quantities([CloseLeg(lot1, D(4), Side.SELL, D(4)), CloseLeg(fine, D(0), Side.BUY, D(0))]) == [4, 0]
    assert close_quantities([CloseLeg(lot1, D(-4), Side.SELL, D(4)), CloseLeg(fine, D(0), Side.BUY, D(0))]) == [0, 0]
    # canonical units: 1000 units of a x1000 market hedge 1 unit of the other
    k = market("10", "10", "0.001")
    assert close_quantities([CloseLeg(k, D(1000), Side.SELL, D(1000)), CloseLeg(market("1", "2"), D(-1), Side.BUY, D(1))]) == [0, 0]
    assert close_quantities([CloseLeg(k, D(3000), Side.SELL, D(3000)), CloseLeg(market("1", "2"), D(-3), Side.BUY, D(3))]) == [3000, 3]


async def test_dust_pair_stays_hedged_then_is_swept() -> None:
    symbol = "0G"
    cluster = await start_emulators(["aster", "lighter"], seed=123)
    long_c, short_c = make_client(cluster, "aster"), make_client(cluster, "lighter")
    venues = {n: cluster.sim.venue(n) for n in ("aster", "lighter")}
    fills: list[FillRecord] = []

    async def sink(f: FillRecord) -> None:
        fills.append(f)

    try:
        for c in (long_c, short_c):
            await c.connect()
        la, sa = await long_c.contract_attributes(symbol), await short_c.contract_attributes(symbol)
        assert (la.lot_size, sa.min_size) == (D(1), D(5)), "the scenario needs aster lots of 1 and lighter's minimum 5"
        # the seed-123 legs: aster long 1, lighter short 1.4 (each reached through orders the markets take)
        for c, side, q, ro in ((long_c, Side.BUY, D(3), False), (long_c, Side.SELL, D(2), True),
                               (short_c, Side.SELL, D("6.4"), False), (short_c, Side.BUY, D(5), True)):
            assert (await c.place_market_order(symbol, side, q, reduce_only=ro)).success
        assert engine_position(venues["aster"], D(1), symbol) == 1
        assert engine_position(venues["lighter"], D(1), symbol) == D("-1.4")

        ex = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC))
        res = await ex.close(long_c, short_c, symbol, D(1), D("1.4"), on_fill=sink, use_limit=False)
        # nothing traded: aster's 1 cannot go below lighter's 1.4, which no order can close
        assert not res.naked and not res.success, res.reason
        assert res.dust == [("aster", D(1)), ("lighter", D("-1.4"))], res.reason
        assert (res.long.requested, res.short.requested) == (0, 0)
        assert engine_position(venues["aster"], D(1), symbol) == 1
        assert engine_position(venues["lighter"], D(1), symbol) == D("-1.4")
        assert not fills

        # a cap below the sweep's fees: nothing is sent, the pair is still reported as dust
        capped = await ex.sweep_dust(long_c, short_c, symbol, on_fill=sink, max_fee_usd=D("0.0001"))
        assert capped.fee_cap_hit and not capped.success and capped.dust == res.dust and not fills, capped.reason
        assert engine_position(venues["lighter"], D(1), symbol) == D("-1.4")

        swept = await ex.sweep_dust(long_c, short_c, symbol, D(1), D("1.4"), on_fill=sink, max_fee_usd=D(1))
    finally:
        for c in (long_c, short_c):
            await c.close()
        await cluster.stop()
    assert swept.success and not swept.naked and not swept.dust, swept.reason
    assert engine_position(venues["aster"], D(1), symbol) == 0
    assert engine_position(venues["lighter"], D(1), symbol) == 0
    assert swept.positions == {"aster": 0, "lighter": 0}
    # top-up (buy on aster, sell on lighter), then the close of everything: four orders, all recorded
    assert [(r.exchange, r.side) for r in swept.rollback[:2]] == [("aster", Side.BUY), ("lighter", Side.SELL)]
    by_leg = {(f.exchange, f.side): D(0) for f in fills}
    for f in fills:
        by_leg[f.exchange, f.side] += f.qty
    top = swept.rollback[0].requested
    assert by_leg == {("aster", Side.BUY): top, ("aster", Side.SELL): top + 1,
                      ("lighter", Side.SELL): top, ("lighter", Side.BUY): top + D("1.4")}
    assert swept.fees == sum((f.fee for f in fills), D(0)) <= 1


async def test_close_stopped_short_below_the_minimum_leaves_a_hedged_dust_pair() -> None:
    """Mid-close: lighter's reduce-only sell fills half (0.003 ETH left, below lighter's minimum
    0.005), aster's buy closes all of its 0.006: the rest is rolled back on aster so both keep
    0.003, reported as dust, not naked."""
    symbol = "ETH"
    cluster = await start_emulators(["lighter", "aster"], seed=3)
    long_c, short_c = make_client(cluster, "lighter"), make_client(cluster, "aster")
    venues = {n: cluster.sim.venue(n) for n in ("lighter", "aster")}
    try:
        for c in (long_c, short_c):
            await c.connect()
        la = await long_c.contract_attributes(symbol)
        assert la.min_size == D("0.005")
        q = D("0.006")
        assert (await long_c.place_market_order(symbol, Side.BUY, q)).success
        assert (await short_c.place_market_order(symbol, Side.SELL, q)).success
        venues["lighter"].faults.inject("partial", symbol=symbol, value=0.5)
        res = await AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC)).close(
            long_c, short_c, symbol, q, q, use_limit=False)
    finally:
        for c in (long_c, short_c):
            await c.close()
        await cluster.stop()
    left = engine_position(venues["lighter"], D(1), symbol)
    assert 0 < left < la.min_size
    assert engine_position(venues["aster"], D(1), symbol) == -left
    assert not res.naked and not res.success
    assert res.dust == [("lighter", left), ("aster", -left)], res.reason


async def test_close_of_a_pair_below_the_opening_minimums_with_a_refused_leg_is_rolled_back_in_two_orders() -> None:
    """The fault test's seed 3, trial 277: XRP aster 1.1 long / paradex 1.1 short (USD 2.6 a leg,
    below both markets' minimum notional for an opening order), paradex refuses every order:
    aster's close went through. Rolling it back takes an opening buy of 1.1 that aster refuses,
    and nothing past the start shrinks the exposure in one order: the repair buys the smallest
    opening order aster takes, then sells the excess back reduce-only, leaving the pair hedged."""
    symbol = "XRP"
    cluster = await start_emulators(["aster", "paradex"], seed=3)
    long_c, short_c = make_client(cluster, "aster"), make_client(cluster, "paradex")
    venues = {n: cluster.sim.venue(n) for n in ("aster", "paradex")}
    try:
        for c in (long_c, short_c):
            await c.connect()
        q = D("1.1")
        for c, side, size, ro in ((long_c, Side.BUY, D(3), False), (long_c, Side.SELL, D("1.9"), True),
                                  (short_c, Side.SELL, D(5), False), (short_c, Side.BUY, D("3.9"), True)):
            assert (await c.place_market_order(symbol, side, size, reduce_only=ro)).success
        la = await long_c.contract_attributes(symbol)
        _, ask = await long_c.fetch_bbo_prices(symbol)
        assert q * ask < la.min_notional, "the scenario needs a rollback of 1.1 refused by aster"
        venues["paradex"].faults.inject("reject", count=50, symbol=symbol)
        res = await AtomicPairExecutor(PriceProvider(), ExecutionConfig(TACTIC)).close(
            long_c, short_c, symbol, q, q, use_limit=False)
    finally:
        for c in (long_c, short_c):
            await c.close()
        await cluster.stop()
    assert not res.naked and not res.success, res.reason
    assert engine_position(venues["aster"], D(1), symbol) == q
    assert engine_position(venues["paradex"], D(1), symbol) == -q
    buys = [r for r in res.rollback if r.exchange == "aster" and r.side is Side.BUY and r.filled > 0]
    sells = [r for r in res.rollback if r.exchange == "aster" and r.side is Side.SELL and r.filled > 0]
    assert buys and sells and buys[0].filled * ask >= la.min_notional, res.rollback
