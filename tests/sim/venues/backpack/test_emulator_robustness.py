"""F03: whatever order / cancel payload a client sends, the Backpack dialect answers with a
Backpack-shaped error (``code`` + message, or the plain-text parse error), never an internal
failure, and the engine stays consistent."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpdex.sim.engine import SimError
from perpdex.sim.scenario import build_simulation
from perpdex.sim.venues.backpack import BackpackApiError, BackpackEmulator
from perpdex.sim.venues.backpack.auth import SIM_API_KEY

_KEYS = ["symbol", "side", "orderType", "price", "quantity", "quoteQuantity", "timeInForce", "postOnly", "reduceOnly",
         "clientId", "orderId", "selfTradePrevention"]
_values = st.one_of(
    st.sampled_from(["BTC_USDC_PERP", "ETH_USDC_PERP", "Bid", "Ask", "Limit", "Market", "GTC", "IOC", "FOK", "0.01",
                     "100000", "0", "-1", "1e400", "NaN", "abc", ""]),
    st.integers(min_value=-(2**40), max_value=2**40), st.text(max_size=5), st.none(), st.booleans(),
    st.floats(allow_nan=True), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
_payload = st.builds(
    lambda sym, rest: rest | ({"symbol": sym} if sym else {}),
    st.sampled_from([None, "BTC_USDC_PERP", "ETH_USDC_PERP", "ETH_USDC_PERP"]),  # mostly a valid market
    st.dictionaries(st.sampled_from(_KEYS), _values, max_size=len(_KEYS)))

EMULATOR = BackpackEmulator(build_simulation(["backpack"]).venue("backpack"))


def _run(op: str, params: dict[str, Any]) -> Any:
    return asyncio.run(getattr(EMULATOR, op)(SIM_API_KEY, params))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(["_order_execute", "_order_cancel", "_order_query", "_open_orders", "_positions",
                           "_order_history", "_fills", "_funding_history_private", "_account_update"]),
       params=_payload)
def test_f03_any_payload_gets_a_backpack_answer(op: str, params: dict[str, Any]) -> None:
    try:
        result = _run(op, params)
    except BackpackApiError as exc:
        assert exc.status in (400, 401, 404) and exc.message
        assert exc.code is None or exc.code.isupper()
        return
    except SimError as exc:  # mapped by the middleware to a Backpack code
        assert EMULATOR._sim_error(exc).code in ("INVALID_ORDER", "INSUFFICIENT_MARGIN", "RESOURCE_NOT_FOUND")
        return
    assert result is None or isinstance(result, (dict, list))
    venue = EMULATOR.venue
    assert all(o.qty > 0 and o.filled <= o.qty + 1e-9 for o in venue.account(SIM_API_KEY).orders.values())
