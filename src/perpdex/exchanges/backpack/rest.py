"""Backpack's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client,
the feed (depth snapshots, markets) and the funding adapter.

Errors (docs/exchanges/backpack.md §5.10): HTTP 429 or ``TOO_MANY_REQUESTS`` ->
:class:`RateLimited`, other non-2xx ``{"code": "<ENUM>", "message": ...}`` answers ->
:class:`ExchangeError` with the code, transport failures -> :class:`NetworkError`.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient, budget_for
from . import schemas

EXCHANGE = "backpack"
DEFAULT_REST_URL = "https://api.backpack.exchange"
# ccxt's assumption of ~20 req/s; Backpack publishes no limit (protocol doc §5)
BUDGET = budget_for(EXCHANGE, rate=20, burst=20)


class BackpackRest(RestClient):
    """``/api/v1/...`` and ``/wapi/v1/...`` routes of ``base_url`` (live by default)."""

    exchange = EXCHANGE
    default_base_url = DEFAULT_REST_URL
    budget = BUDGET
    rate_limit_codes = frozenset({"TOO_MANY_REQUESTS"})

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": "INVALID_MARKET", "message": "..."}`` -> ("INVALID_MARKET", "...")."""
        err = schemas.api_error.decode(body)
        return err.code, err.message
