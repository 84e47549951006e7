"""Backpack's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client,
the feed (depth snapshots, markets) and the funding adapter.

Errors (docs/exchanges/backpack.md §5.10): HTTP 429 or ``TOO_MANY_REQUESTS`` ->
:class:`RateLimited`, other non-2xx ``{"code": "<ENUM>", "message": ...}`` answers ->
:class:`ExchangeError` with the code, transport failures -> :class:`NetworkError`.

Budget: ccxt's assumption of ~20 req/s; Backpack publishes no limit (protocol doc §5).
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient
from . import schemas

EXCHANGE = "backpack"


class BackpackRest(RestClient, exchange=EXCHANGE, base_url="https://api.backpack.exchange", rate=20, burst=20,
                   rate_limit_codes=("TOO_MANY_REQUESTS",)):
    """``/api/v1/...`` and ``/wapi/v1/...`` routes of ``base_url`` (live by default)."""

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": "INVALID_MARKET", "message": "..."}`` -> ("INVALID_MARKET", "...")."""
        err = schemas.api_error.decode(body)
        return err.code, err.message
