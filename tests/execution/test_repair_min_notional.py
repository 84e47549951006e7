"""The repair when the only order that helps is larger than the room before the goal.

Closing a pair whose long leg is dust below its market's minimum order size (left by earlier
partial fills): that leg cannot trade, the short leg's close fills only half (``partial`` fault),
and the exposure left (more than a lot) can only come off the short leg. Rolling it back towards
its start has room for one lot, an order below the market's minimum notional that the exchange
refuses; the repair must send the smallest order the market takes, past the start, rather than
leave the pair naked.
"""

from __future__ import annotations

from decimal import Decimal

from perpdex.execution.atomic import AtomicPairExecutor, ExecutionConfig
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.tactics import TacticConfig
from perpdex.models import Side
from perpdex.sim.server import start_emulators
from tests.execution.emulated import engine_position, make_client

D = Decimal
SYMBOL = "ETH"


async def test_repair_goes_past_the_start_when_the_room_is_below_the_minimum_notional() -> None:
    cluster = await start_emulators(["lighter", "aster"], seed=3)
    clients = {n: make_client(cluster, n) for n in ("lighter", "aster")}
    long_c, short_c = clients["lighter"], clients["aster"]
    try:
        for c in clients.values():
            await c.connect()
        la, sa = await long_c.contract_attributes(SYMBOL), await short_c.contract_attributes(SYMBOL)
        # the long leg: dust below lighter's minimum size (bought above it, then mostly sold)
        dust = la.min_size / 2 - la.lot_size * 3
        assert 0 < dust < la.min_size
        for side, q in ((Side.BUY, la.min_size + dust), (Side.SELL, la.min_size)):
            assert (await long_c.place_market_order(SYMBOL, side, q)).success
        short = sa.lot_size * 2  # the short leg: two lots, the smallest order that passes aster's minimum notional
        _, ask = await short_c.fetch_bbo_prices(SYMBOL)
        assert sa.lot_size * ask < sa.min_notional <= short * ask, "the scenario needs a one-lot order refused"
        assert (await short_c.place_market_order(SYMBOL, Side.SELL, short)).success
        venues = {n: cluster.sim.venue(n) for n in clients}
        assert engine_position(venues["lighter"], D(1), SYMBOL) == dust
        assert engine_position(venues["aster"], D(1), SYMBOL) == -short

        venues["aster"].faults.inject("partial", symbol=SYMBOL, value=0.5)  # the close buys one lot of two
        tactic = TacticConfig(order_timeout_s=2.0, poll_interval_s=0.02)
        res = await AtomicPairExecutor(PriceProvider(), ExecutionConfig(tactic)).close(
            long_c, short_c, SYMBOL, dust, short, use_limit=False)
    finally:
        for c in clients.values():
            await c.close()
        await cluster.stop()

    tol = max(la.canonical_lot, sa.canonical_lot)
    net = sum(engine_position(v, m, SYMBOL) for v, m in ((venues["lighter"], la.multiplier), (venues["aster"], sa.multiplier)))
    assert abs(net) <= tol and not res.naked, f"net {net}: {res.reason}; repairs {res.rollback}"
    assert engine_position(venues["lighter"], D(1), SYMBOL) == dust  # the dust leg never traded (nor flipped)
    assert engine_position(venues["aster"], D(1), SYMBOL) < 0  # the short leg is still short, never flipped
    refused = [r for r in res.rollback if r.error]
    assert not refused, f"orders the market refused: {refused}"
