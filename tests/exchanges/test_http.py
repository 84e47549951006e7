"""Rate-limit budgets (``exchanges/http.py``): token bucket, back-off on 429 storms, recovery."""

from __future__ import annotations

import asyncio
import time

import pytest

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.errors import RateLimited
from perpdex.exchanges import registry
from perpdex.exchanges.http import RateBudget, budget_for


async def test_token_bucket_spaces_requests_beyond_the_burst():
    b = RateBudget("x", rate=50, burst=5)
    t0 = time.monotonic()
    for _ in range(15):
        await b.acquire()
    # 5 at once, then 10 more at 50/s: at least ~0.2 s; waits were counted
    assert time.monotonic() - t0 >= 0.18 and b.waits > 0


async def test_backoff_doubles_on_consecutive_rate_limits_and_resets_on_success():
    b = RateBudget("x", rate=1000, burst=1000, base_backoff=0.05, max_backoff=1.0)
    first = b.rate_limited()
    second = b.rate_limited()
    third = b.rate_limited()
    assert 0.04 <= first <= 0.06 and 0.08 <= second <= 0.12 and 0.16 <= third <= 0.24
    t0 = time.monotonic()
    await b.acquire()  # waits out the back-off
    assert time.monotonic() - t0 >= 0.1
    b.succeeded()
    assert 0.04 <= b.rate_limited() <= 0.06  # a new streak starts small
    with pytest.raises(ValueError):
        RateBudget("x", rate=0, burst=1)


@pytest.mark.parametrize("exchange", registry.names())
async def test_a_429_storm_slows_funding_collection_down_and_it_recovers(exchange, tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        adapter = rt.adapters[exchange]
        budget = budget_for(exchange)
        before = budget.rate_limited_count
        rt.cluster.sim.venue(exchange).faults.inject("http429", count=3)
        failures = 0
        for _ in range(6):
            try:
                rates = await adapter.fetch_funding_rates()
                break
            except RateLimited:
                failures += 1
        else:
            pytest.fail("never recovered from the 429 storm")
        # every injected 429 was seen by the budget (and backed off), and the adapter recovered
        assert failures >= 1 and budget.rate_limited_count - before == 3
        assert len(rates) >= 8
        await asyncio.sleep(0)
