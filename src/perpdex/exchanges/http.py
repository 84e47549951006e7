"""Rate-limit budgets for the native REST calls of each exchange.

One :class:`RateBudget` per exchange per process, shared by that exchange's client, feed snapshots
and funding adapter: a token bucket (``rate`` requests per second, ``burst`` capacity) plus a
back-off after every rate-limit answer (429 / the exchange's code): requests wait ``base`` seconds
after the first, twice as long after each further one in a row (with jitter, capped), and the
back-off resets after a success. Requests are never retried here: the caller's own cycle (next scan,
next snapshot attempt) is the retry, so a 429 storm slows the bot down instead of crashing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import aiohttp

from ..aio import jittered
from ..errors import RateLimited

log = logging.getLogger(__name__)


class RateBudget:
    """``rate`` requests/s sustained, ``burst`` at once; back-off from ``base_backoff`` to
    ``max_backoff`` seconds after consecutive rate-limit answers."""

    def __init__(self, exchange: str, rate: float, burst: float, *, base_backoff: float = 0.25,
                 max_backoff: float = 5.0) -> None:
        self.exchange = exchange
        self.configure(rate, burst)
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._blocked_until = 0.0
        self._strikes = 0
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}  # one per event loop (the budget is process-wide)
        self.waits = 0
        self.rate_limited_count = 0

    def configure(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"{self.exchange}: rate must be > 0 and burst >= 1 (got {rate}, {burst})")
        self.rate = float(rate)
        self.burst = float(burst)

    async def acquire(self, weight: float = 1.0) -> None:
        """Wait until the back-off is over and ``weight`` tokens are available, then take them."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            for old in [lp for lp in self._locks if lp.is_closed()]:
                del self._locks[old]
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                wait = max(self._blocked_until - now, (weight - self._tokens) / self.rate if self._tokens < weight else 0.0)
                if wait <= 0:
                    self._tokens -= weight
                    return
                self.waits += 1
                await asyncio.sleep(wait)

    def rate_limited(self) -> float:
        """Record a rate-limit answer; returns the back-off now applied (seconds)."""
        self._strikes += 1
        self.rate_limited_count += 1
        backoff = jittered(min(self.base_backoff * 2 ** (self._strikes - 1), self.max_backoff))
        self._blocked_until = max(self._blocked_until, time.monotonic() + backoff)
        log.warning("%s: rate limited (%d in a row); backing off %.2fs", self.exchange, self._strikes, backoff)
        return backoff

    def succeeded(self) -> None:
        self._strikes = 0

    @contextlib.asynccontextmanager
    async def request(self, weight: float = 1.0) -> AsyncIterator[None]:
        """``async with budget.request(): ...`` around one REST call."""
        await self.acquire(weight)
        try:
            yield
        except RateLimited:
            self.rate_limited()
            raise
        else:
            self.succeeded()


_BUDGETS: dict[str, RateBudget] = {}


def budget_for(exchange: str, rate: float = 10.0, burst: float = 20.0) -> RateBudget:
    """The process-wide budget of ``exchange`` (created with ``rate``/``burst`` on first use)."""
    b = _BUDGETS.get(exchange)
    if b is None:
        b = _BUDGETS[exchange] = RateBudget(exchange, rate, burst)
    return b


def configure_budget(exchange: str, rate: float | None = None, burst: float | None = None) -> RateBudget:
    """Override an exchange's budget from config (None keeps the exchange module's default)."""
    b = budget_for(exchange)
    b.configure(rate if rate is not None else b.rate, burst if burst is not None else b.burst)
    return b


class LazySession:
    """The aiohttp session of one REST client: the one given, or one created on first use (call
    the object to get it) with a ``timeout`` in seconds; :meth:`close` closes only a session it
    created itself."""

    def __init__(self, session: aiohttp.ClientSession | None = None, timeout: float = 15.0) -> None:
        self._session = session
        self._own = session is None
        self._timeout = timeout

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
        self._session = None
