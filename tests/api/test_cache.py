"""The per-round answer cache: shared answers within a round, the previous round's answer served
while one background recomputation runs, recomputations one at a time, failures not kept."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from perpdex.api.cache import RoundCache

from ..waiting import eventually


def request(path: str = "/funding-rates", query: bytes = b"") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query, "headers": []})


class Counter:
    """An answer source: ``compute()`` returns ``b"<tag>-<n>"`` for its n-th call, after ``delay`` s."""

    def __init__(self, tag: str = "a", delay: float = 0.0) -> None:
        self.tag, self.delay, self.calls, self.running, self.peak = tag, delay, 0, 0, 0
        self.fail = False

    async def compute(self) -> bytes:
        self.calls += 1
        n = self.calls
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail:
                raise RuntimeError("store gone")
            return f"{self.tag}-{n}".encode()
        finally:
            self.running -= 1


async def test_not_collecting_computes_every_answer() -> None:
    cache, src = RoundCache(), Counter()
    bodies = [(await cache.answer(request(), None, src.compute)).body for _ in range(3)]
    assert bodies == [b"a-1", b"a-2", b"a-3"] and cache.stats()["kept"] == 0


async def test_identical_requests_in_a_round_share_one_computation() -> None:
    cache, src = RoundCache(), Counter(delay=0.05)
    got = await asyncio.gather(*(cache.answer(request(query=b"x=1"), 1, src.compute) for _ in range(5)))
    assert {r.body for r in got} == {b"a-1"} and src.calls == 1
    other = await cache.answer(request(query=b"x=2"), 1, src.compute)  # another query: its own answer
    assert other.body == b"a-2" and cache.misses == 2 and cache.hits == 4


async def test_after_a_round_the_kept_answer_is_served_while_one_refresh_runs() -> None:
    cache, src = RoundCache(), Counter(delay=0.05)
    assert (await cache.answer(request(), 1, src.compute)).body == b"a-1"
    # round 2: the round-1 answer at once, for every request, while one recomputation runs
    first = [(await cache.answer(request(), 2, src.compute)).body for _ in range(4)]
    assert first == [b"a-1"] * 4 and cache.stale_hits == 4
    await eventually(lambda: cache.refreshes == 1, what="the background refresh")
    assert src.calls == 2 and (await cache.answer(request(), 2, src.compute)).body == b"a-2"
    # two rounds later without a request in between: too old to serve, computed while waiting
    assert (await cache.answer(request(), 4, src.compute)).body == b"a-3"
    assert cache.misses == 2 and cache.refreshes == 1


async def test_refreshes_run_one_at_a_time() -> None:
    cache, src = RoundCache(refreshers=1), Counter(delay=0.03)
    for q in range(6):
        await cache.answer(request(query=f"q={q}".encode()), 1, src.compute)
    for q in range(6):
        assert (await cache.answer(request(query=f"q={q}".encode()), 2, src.compute)).body == f"a-{q + 1}".encode()
    await eventually(lambda: cache.refreshes == 6, what="six background refreshes")
    assert src.peak == 1 and src.calls == 12


async def test_a_failed_refresh_is_not_kept_and_the_next_request_computes() -> None:
    cache, src = RoundCache(), Counter()
    await cache.answer(request(), 1, src.compute)
    src.fail = True
    assert (await cache.answer(request(), 2, src.compute)).body == b"a-1"  # stale, refresh fails behind it
    await eventually(lambda: cache.refresh_errors == 1, what="the failed refresh")
    with pytest.raises(RuntimeError, match="store gone"):
        await cache.answer(request(), 2, src.compute)
    src.fail = False
    assert (await cache.answer(request(), 2, src.compute)).body == b"a-4"


async def test_a_failed_computation_is_not_kept() -> None:
    cache, src = RoundCache(), Counter()
    src.fail = True
    with pytest.raises(RuntimeError):
        await cache.answer(request(), 1, src.compute)
    src.fail = False
    assert (await cache.answer(request(), 1, src.compute)).body == b"a-2"


async def test_the_least_recently_used_answer_goes_first() -> None:
    cache, src = RoundCache(max_entries=2), Counter()
    for q in (b"q=1", b"q=2", b"q=1", b"q=3"):
        await cache.answer(request(query=q), 1, src.compute)
    assert cache.stats()["kept"] == 2
    assert (await cache.answer(request(query=b"q=1"), 1, src.compute)).body == b"a-1"  # kept
    assert (await cache.answer(request(query=b"q=2"), 1, src.compute)).body == b"a-4"  # dropped, recomputed


async def test_close_cancels_background_refreshes() -> None:
    cache, src = RoundCache(), Counter(delay=0.02)
    await cache.answer(request(), 1, src.compute)
    src.delay = 30
    await cache.answer(request(), 2, src.compute)
    await eventually(lambda: src.running == 1, what="the refresh to start")
    await cache.close()
    assert src.running == 0 and cache.refreshes == 0


async def test_an_answer_being_refreshed_is_served_even_when_rounds_outrun_the_refresh() -> None:
    cache, src = RoundCache(), Counter()
    await cache.answer(request(), 1, src.compute)
    src.delay = 0.2
    assert (await cache.answer(request(), 2, src.compute)).body == b"a-1"  # refresh starts (slow)
    await eventually(lambda: src.running == 1, what="the refresh to start")
    # two more rounds land before it finishes: the newest computed answer, not a wait
    assert (await cache.answer(request(), 4, src.compute)).body == b"a-1"
    assert cache.misses == 1 and src.calls == 2
    await eventually(lambda: cache.refreshes == 1, what="the slow refresh")
    # done: kept as round 2's answer, so in round 4 it is too old and computed while waiting
    src.delay = 0
    assert (await cache.answer(request(), 4, src.compute)).body == b"a-3"
