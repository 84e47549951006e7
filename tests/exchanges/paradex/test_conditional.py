"""Conditional (stop-market) orders on Paradex through ParadexClient against the emulator:
``STOP_MARKET`` with ``trigger_price`` and the ``REDUCE_ONLY`` flag (the shared scenarios)."""

from __future__ import annotations

from ..conditional_scenarios import *  # noqa: F401,F403 - the shared conditional-order tests
from .test_userstream import cluster, env  # noqa: F401 - the fixtures the scenarios take
