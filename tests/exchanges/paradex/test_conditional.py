"""Conditional (stop-market) orders on Paradex through ParadexClient against the emulator:
``STOP_MARKET`` with ``trigger_price`` and the ``REDUCE_ONLY`` flag (the shared scenarios)."""

from __future__ import annotations

from ..conditional_scenarios import (  # noqa: F401 - the shared conditional-order tests, collected here
    test_C01_reduce_only_stop_rests_triggers_on_mark_and_reduces,
    test_C02_stop_larger_than_position_never_reverses_it,
    test_C03_cancel_and_refused_trigger,
)
from .test_userstream import cluster, env  # noqa: F401 - the fixtures the scenarios take
