"""Conditional (stop-market) orders on Backpack through BackpackClient against the emulator:
``triggerPrice``/``triggerQuantity``/``triggerBy`` market orders (the shared scenarios)."""

from __future__ import annotations

from ..conditional_scenarios import *  # noqa: F401,F403 - the shared conditional-order tests
from .test_userstream import env  # noqa: F401 - the fixture the scenarios take
