"""Lighter's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client,
the feed (catalog) and the funding adapter.

Errors (docs/exchanges/lighter.md §5.6, §5.10): HTTP 429 or code 23000 -> :class:`RateLimited`,
other non-2xx ``{"code": N, "message": ...}`` answers -> :class:`ExchangeError` with the code,
transport failures -> :class:`NetworkError`.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient, budget_for
from . import schemas

EXCHANGE = "lighter"
DEFAULT_REST_URL = "https://mainnet.zklighter.elliot.ai"
# Standard accounts: 60 weighted requests/min per IP (protocol doc §5.10); Premium accounts may raise it in config
BUDGET = budget_for(EXCHANGE, rate=5, burst=20)


class LighterRest(RestClient):
    """``/api/v1/...`` routes of ``base_url`` (mainnet by default)."""

    exchange = EXCHANGE
    default_base_url = DEFAULT_REST_URL
    budget = BUDGET
    rate_limit_codes = frozenset({23000})

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": 23000, "message": "..."}`` -> (23000, "...")."""
        err = schemas.error_body.decode(body)
        return err.code, err.message
