"""The native REST plumbing every exchange shares: :class:`RestClient` (one per exchange, in
``exchanges/<name>/rest.py``) and the rate-limit budgets it spends.

:class:`RestClient` holds the session, the base URL, an optional signing hook and the exchange's
budget, and maps every failure into :mod:`perpdex.errors`; an exchange's ``rest.py`` adds only what
is its own (live base URL, budget, how its error bodies read, which codes mean what).

Rate-limit budgets for the native REST calls of each exchange:

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
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, ClassVar

import aiohttp
import msgspec

from ..aio import jittered
from ..errors import AuthenticationError, ExchangeError, MarketNotFound, NetworkError, RateLimited

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


#: A request signer: ``sign(method, path, params, headers)`` adds the exchange's authentication to
#: ``params`` / ``headers`` (both mutable) in place, just before the request is sent.
Signer = Callable[[str, str, dict[str, Any], dict[str, str]], None]

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def lax_decoder(typ: Any) -> msgspec.json.Decoder[Any]:
    """A lenient (``strict=False``: ``"7.5"`` into a number field) JSON decoder for ``typ``, built
    once per type."""
    dec = _DECODERS.get(typ)
    if dec is None:
        dec = _DECODERS[typ] = msgspec.json.Decoder(typ, strict=False)
    return dec


class RestClient:
    """One exchange's REST API at ``base_url`` (None: the subclass's :attr:`default_base_url`).

    Every request runs inside the exchange's :attr:`budget` (token bucket, back-off after a
    rate-limit answer) and is sent once: the caller's own cycle is the retry (see the module doc;
    funding-history pages are retried by :func:`~perpdex.exchanges.history.request_page`).

    Session: ``session`` (an ``aiohttp.ClientSession`` or a drop-in with the same ``get``: the
    recording tap, the replay transport; the caller closes it), or ``session_of`` (a callable
    returning the session to use at each request, e.g. a feed's own), else one created on first
    use with a ``timeout`` in seconds and closed by :meth:`close`.

    ``sign``: the :data:`Signer` of requests made with ``signed=True`` (none: such a request
    raises :class:`~perpdex.errors.AuthenticationError`).

    Errors (message ``"<METHOD> <url>: ..."``, ``exchange`` and ``code`` set): a transport failure
    or timeout -> :class:`~perpdex.errors.NetworkError`; a non-2xx answer -> the class
    :meth:`error_type` picks from the status and the code :meth:`decode_error` reads from the body
    (:attr:`rate_limit_statuses` / :attr:`rate_limit_codes` -> :class:`~perpdex.errors.RateLimited`,
    401 / :attr:`auth_codes` -> :class:`~perpdex.errors.AuthenticationError`,
    :attr:`not_found_codes` -> :class:`~perpdex.errors.MarketNotFound`, else
    :class:`~perpdex.errors.ExchangeError`); a body that does not decode into the asked type ->
    :class:`~perpdex.errors.ExchangeError` ("unexpected answer")."""

    exchange: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    budget: ClassVar[RateBudget]
    rate_limit_statuses: ClassVar[frozenset[int]] = frozenset({429})
    rate_limit_codes: ClassVar[frozenset[Any]] = frozenset()
    auth_codes: ClassVar[frozenset[Any]] = frozenset()
    not_found_codes: ClassVar[frozenset[Any]] = frozenset()

    def __init_subclass__(cls, *, exchange: str | None = None, base_url: str = "", rate: float = 10.0,
                          burst: float = 20.0, rate_limit_statuses: Iterable[int] = (429,),
                          rate_limit_codes: Iterable[Any] = (), auth_codes: Iterable[Any] = (),
                          not_found_codes: Iterable[Any] = (), **kwargs: Any) -> None:
        """An exchange's client declares itself in its class statement: ``class XRest(RestClient,
        exchange="x", base_url=<live URL>, rate=<requests/s>, burst=<requests>, ...codes)``; the
        budget is the process-wide one of ``exchange`` (:func:`budget_for`)."""
        super().__init_subclass__(**kwargs)
        if exchange is None:
            return
        cls.exchange = exchange
        cls.default_base_url = base_url
        cls.budget = budget_for(exchange, rate, burst)
        cls.rate_limit_statuses = frozenset(rate_limit_statuses)
        cls.rate_limit_codes = frozenset(rate_limit_codes)
        cls.auth_codes = frozenset(auth_codes)
        cls.not_found_codes = frozenset(not_found_codes)

    def __init__(self, base_url: str | None = None, *, session: Any = None,
                 session_of: Callable[[], Any] | None = None, timeout: float = 15.0,
                 sign: Signer | None = None) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.sign = sign
        self._timeout = timeout
        self._lazy = LazySession(session, timeout)
        self._session_of: Callable[[], Any] = session_of or self._lazy

    def use_session(self, session: Any) -> None:
        """Send the next requests over ``session`` (the caller closes it); call it before the first
        request (``ExchangeClient.use_session``: before ``connect``)."""
        self._lazy = LazySession(session, self._timeout)
        self._session_of = self._lazy

    async def get(self, path: str, params: dict[str, Any] | None = None, *, into: Any = None,
                  signed: bool = False) -> Any:
        """GET ``base_url + path`` (``path`` starts with ``/``); the raw body (bytes), or decoded
        as ``into`` (a type, or a ``msgspec.json.Decoder``) when given. Errors: see the class."""
        return await self.request("GET", path, params, into=into, signed=signed)

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *, into: Any = None,
                      signed: bool = False, weight: float = 1.0) -> Any:
        """One request of ``weight`` budget tokens; see :meth:`get`."""
        query: dict[str, Any] = dict(params) if params else {}
        headers: dict[str, str] = {}
        if signed:
            if self.sign is None:
                raise AuthenticationError(f"{method} {path}: no request signer configured", exchange=self.exchange)
            self.sign(method, path, query, headers)
        url = self.base_url + path
        async with self.budget.request(weight):
            body = await self._send(method, url, query, headers)
        if into is None:
            return body
        decoder = into if isinstance(into, msgspec.json.Decoder) else lax_decoder(into)
        try:
            return decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ExchangeError(f"{method} {url}: unexpected answer ({exc})", exchange=self.exchange) from None

    async def _send(self, method: str, url: str, params: dict[str, Any], headers: dict[str, str]) -> bytes:
        session = self._session_of()
        # GET through ``session.get``: the recording tap and the replay transport model only that
        call = session.get if method == "GET" else functools.partial(session.request, method)
        extra = {"headers": headers} if headers else {}
        try:
            async with call(url, params=params or None, **extra) as resp:
                body: bytes = await resp.read()
                status: int = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"{method} {url}: {type(exc).__name__}: {exc}", exchange=self.exchange) from None
        if not 200 <= status < 300:
            raise self.error(method, url, status, body)
        return body

    # -- error mapping -------------------------------------------------------------------------------
    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """(code, message) of an error answer; the exchange's ``rest.py`` reads its error body
        here. Default: the HTTP status and the first 200 characters of the body."""
        return status, body[:200].decode("utf-8", errors="replace")

    def error_type(self, status: int, code: Any) -> type[ExchangeError]:
        """The :mod:`perpdex.errors` class of an error answer (see the class doc)."""
        if status in self.rate_limit_statuses or code in self.rate_limit_codes:
            return RateLimited
        if status == 401 or code in self.auth_codes:
            return AuthenticationError
        if code in self.not_found_codes:
            return MarketNotFound
        return ExchangeError

    def error(self, method: str, url: str, status: int, body: bytes) -> ExchangeError:
        """The typed exception of an answer with a non-2xx ``status``:
        ``"<METHOD> <url>: HTTP <status> code <code>: <message>"``."""
        try:
            code, message = self.decode_error(status, body)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):  # a non-JSON error page
            code, message = RestClient.decode_error(self, status, body)
        text = f"{method} {url}: HTTP {status} code {code}: {message}"
        return self.error_type(status, code)(text, exchange=self.exchange, code=code)

    async def close(self) -> None:
        """Close the session if this client created it."""
        await self._lazy.close()
