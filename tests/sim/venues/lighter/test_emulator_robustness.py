"""F03: whatever a client sends, the Lighter dialect answers with a Lighter-shaped error (never an
internal failure) and the engine stays consistent."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpdex.sim.scenario import build_simulation
from perpdex.sim.venues.lighter import LighterApiError, LighterEmulator

_KEYS = ["AccountIndex", "ApiKeyIndex", "Nonce", "MarketIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce",
         "ReduceOnly", "ClientOrderIndex", "OrderExpiry", "ExpiredAt", "Index", "InitialMarginFraction", "MarginMode",
         "L2TxAttributes"]
_values = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=5), st.none(), st.booleans(),
                    st.floats(allow_nan=True), st.dictionaries(st.sampled_from(["4", "5", "x"]), st.integers(-3, 3)))
_tx_info = st.dictionaries(st.sampled_from(_KEYS), _values, max_size=len(_KEYS))

EMULATOR = LighterEmulator(build_simulation(["lighter"]).venue("lighter"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx_type=st.one_of(st.integers(-1, 50), st.text(max_size=3)), info=_tx_info)
def test_f03_any_tx_gets_a_lighter_answer(tx_type: Any, info: dict[str, Any]) -> None:
    try:
        body = EMULATOR.process_tx(tx_type, json.dumps(info))
    except LighterApiError as exc:
        assert isinstance(exc.code, int) and exc.code != 200 and exc.message
        return
    assert body["code"] == 200 and isinstance(body["tx_hash"], str)


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(st.text(max_size=40), st.binary(max_size=40)))
def test_f03_any_tx_info_text_gets_a_lighter_answer(raw: Any) -> None:
    try:
        EMULATOR.process_tx(14, raw if isinstance(raw, str) else raw.decode(errors="replace"))
    except LighterApiError as exc:
        assert exc.code in (20001, 21501, 21104) or 21000 <= exc.code < 22000
