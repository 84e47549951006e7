"""Paradex's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client
and the funding adapter.

Errors (docs/exchanges/paradex.md §5.10): HTTP 429 -> :class:`RateLimited`, 401 ->
:class:`AuthenticationError`, other non-2xx ``{"error": "<CODE>", "message": ...}`` answers ->
:class:`ExchangeError` with the ``error`` code, transport failures -> :class:`NetworkError`.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient, budget_for
from . import schemas

EXCHANGE = "paradex"
DEFAULT_REST_URL = "https://api.prod.paradex.trade/v1"
# REST limits are not documented (protocol doc open points); a conservative default
BUDGET = budget_for(EXCHANGE, rate=20, burst=20)


class ParadexRest(RestClient):
    """Routes of ``base_url``, which ends in ``/v1`` (mainnet by default)."""

    exchange = EXCHANGE
    default_base_url = DEFAULT_REST_URL
    budget = BUDGET

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"error": "NOT_FOUND", "message": "..."}`` -> ("NOT_FOUND", "...") (the status when
        ``error`` is empty)."""
        err = schemas.error_decoder.decode(body)
        return err.error or str(status), err.message
