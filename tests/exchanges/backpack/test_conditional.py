"""Conditional (stop-market) orders on Backpack through BackpackClient against the emulator:
``triggerPrice``/``triggerQuantity``/``triggerBy`` market orders (the shared scenarios)."""

from __future__ import annotations

from ..conditional_scenarios import (  # noqa: F401 - the shared conditional-order tests, collected here
    test_C01_reduce_only_stop_rests_triggers_on_mark_and_reduces,
    test_C02_stop_larger_than_position_never_reverses_it,
    test_C03_cancel_and_refused_trigger,
)
from .test_userstream import env  # noqa: F401 - the fixture the scenarios take
