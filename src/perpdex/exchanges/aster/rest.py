"""Aster's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client, the
feed (diff-mode snapshots, funding intervals) and the funding adapter.

Errors (docs/exchanges/aster.md §5.11): HTTP 429/418 or code -1003 -> :class:`RateLimited`;
-1121 -> :class:`MarketNotFound`; any other ``{"code": -NNNN, "msg": ...}`` or non-200 answer ->
:class:`ExchangeError` (with the code); transport failures -> :class:`NetworkError`; an answer
that does not match the schema -> :class:`ExchangeError` naming the field.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient, budget_for
from .schemas import ErrorBody, decode

EXCHANGE = "aster"
LIVE_REST_URL = "https://fapi.asterdex.com"
# REQUEST_WEIGHT 2400/min (exchangeInfo rateLimits, protocol doc §2.2); depth costs 2-20 weight, so
# 20 requests/s stays well inside it
BUDGET = budget_for(EXCHANGE, rate=20, burst=40)


class AsterRest(RestClient):
    """``/fapi/...`` routes of ``base_url`` (live ``https://fapi.asterdex.com``)."""

    exchange = EXCHANGE
    default_base_url = LIVE_REST_URL
    budget = BUDGET
    rate_limit_statuses = frozenset({418, 429})
    rate_limit_codes = frozenset({-1003})
    not_found_codes = frozenset({-1121})

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": -1121, "msg": "Invalid symbol."}`` -> (-1121, "Invalid symbol.")."""
        err = decode(ErrorBody, body)
        return err.code, err.msg
