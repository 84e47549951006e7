"""An order executed by the exchange whose answer is lost (``ack_lost``): the executor learns of
it from the positions it reads back, and records it from the exchange's fill history with the real
order id, trade id, price and fee rather than as an estimate priced at the touch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.execution.atomic import AtomicPairExecutor, ExecutionConfig
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.tactics import TacticConfig
from perpdex.sim.server import start_emulators
from tests.execution.emulated import engine_orders, engine_position, make_client

D = Decimal
SYMBOL = "ETH"


@pytest.mark.parametrize("lost", ["aster", "backpack", "lighter", "paradex"])
async def test_unanswered_order_is_recorded_from_the_fill_history(lost: str) -> None:
    other = "backpack" if lost != "backpack" else "aster"
    long_n, short_n = lost, other
    cluster = await start_emulators([long_n, short_n], seed=4)
    clients = {n: make_client(cluster, n) for n in (long_n, short_n)}
    try:
        for c in clients.values():
            await c.connect()
        la, sa = (await clients[long_n].contract_attributes(SYMBOL), await clients[short_n].contract_attributes(SYMBOL))
        _, ask = await clients[long_n].fetch_bbo_prices(SYMBOL)
        step = max(la.lot_size, sa.lot_size)
        qty = max(la.min_size, sa.min_size, (D(50) / ask / step).to_integral_value() * step)  # ~50 USD a leg
        venue = cluster.sim.venue(lost)
        venue.faults.inject("ack_lost", symbol=SYMBOL)
        recorded = []

        async def on_fill(f) -> None:
            recorded.append(f)

        ex = AtomicPairExecutor(PriceProvider(), ExecutionConfig(TacticConfig(order_timeout_s=1.0, poll_interval_s=0.02)))
        res = await ex.open(clients[long_n], clients[short_n], SYMBOL, qty, qty, on_fill=on_fill, use_limit=False)
    finally:
        for c in clients.values():
            await c.close()
        await cluster.stop()

    ours = [f for f in recorded if f.exchange == lost]
    assert ours and sum(f.signed_qty for f in ours) == engine_position(venue, D(1), SYMBOL), ours
    history = [f for f in ours if f.source == "history"]
    assert history, f"the unanswered order was not recovered from the fill history: {ours}"
    assert not [f for f in ours if f.source == "position"], "estimated at the touch although the history had it"
    prices = [o.cost / o.filled for o in engine_orders(venue, SYMBOL).values() if o.filled]
    for f in history:  # the exchange's own trade id and execution price, not an estimate
        assert f.trade_id and f.order_id and any(abs(float(f.price) - px) < 1e-6 for px in prices), (f, prices)
    assert abs(res.net_exposure) <= res.tolerance and not res.naked
