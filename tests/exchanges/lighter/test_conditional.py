"""Conditional (stop-market) orders on Lighter through LighterClient against the emulator:
order type 2 (stop-loss) with ``TriggerPrice`` and ``ReduceOnly`` (the shared scenarios)."""

from __future__ import annotations

from ..conditional_scenarios import *  # noqa: F401,F403 - the shared conditional-order tests
from .test_userstream import env  # noqa: F401 - the fixture the scenarios take
