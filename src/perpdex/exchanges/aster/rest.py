"""Native public REST access to Aster (aiohttp + msgspec), shared by the client and the funding
adapter.

Errors (docs/exchanges/aster.md §5.11): HTTP 429/418 or code -1003 -> :class:`RateLimited`;
-1121 -> :class:`MarketNotFound`; any other ``{"code": -NNNN, "msg": ...}`` or non-200 answer ->
:class:`ExchangeError` (with the code); transport failures -> :class:`NetworkError`; an answer
that does not match the schema -> :class:`ExchangeError` naming the field.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import msgspec

from ...errors import ExchangeError, MarketNotFound, NetworkError, RateLimited
from ..http import budget_for
from .schemas import ErrorBody, decode

log = logging.getLogger(__name__)

EXCHANGE = "aster"
LIVE_REST_URL = "https://fapi.asterdex.com"
# REQUEST_WEIGHT 2400/min (exchangeInfo rateLimits, protocol doc §2.2); depth costs 2-20 weight, so
# 20 requests/s stays well inside it
BUDGET = budget_for(EXCHANGE, rate=20, burst=40)


class AsterRest:
    """GET public ``/fapi/...`` routes of ``base_url`` (live ``https://fapi.asterdex.com``)."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = (base_url or LIVE_REST_URL).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._own_session = True
        return self._session

    async def get(self, path: str, typ: Any, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` (e.g. ``"/fapi/v3/premiumIndex"``) and decode the body as ``typ``, within
        Aster's rate-limit budget (see ``exchanges/http.py``)."""
        async with BUDGET.request():
            return await self._get_once(path, typ, params)

    async def _get_once(self, path: str, typ: Any, params: dict[str, Any] | None = None) -> Any:
        url = self.base_url + path
        try:
            async with self.session.get(url, params=params) as resp:
                body = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"GET {path}: {type(exc).__name__}: {exc}", exchange=EXCHANGE) from None
        if status != 200:
            raise self._error(path, status, body)
        try:
            return decode(typ, body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ExchangeError(f"GET {path}: unexpected answer ({exc})", exchange=EXCHANGE) from None

    @staticmethod
    def _error(path: str, status: int, body: bytes) -> ExchangeError:
        code: int | None = None
        msg = body[:200].decode("utf-8", errors="replace")
        try:
            err = decode(ErrorBody, body)
            code, msg = err.code, err.msg
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        text = f"GET {path}: HTTP {status} code {code}: {msg}"
        if status in (418, 429) or code == -1003:
            return RateLimited(text, exchange=EXCHANGE, code=code)
        if code == -1121:
            return MarketNotFound(text, exchange=EXCHANGE, code=code)
        return ExchangeError(text, exchange=EXCHANGE, code=code)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None
