"""Lighter's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client,
the feed (catalog) and the funding adapter.

Errors (docs/exchanges/lighter.md §5.6, §5.10): HTTP 429 or code 23000 -> :class:`RateLimited`,
other non-2xx ``{"code": N, "message": ...}`` answers -> :class:`ExchangeError` with the code,
transport failures -> :class:`NetworkError`.

Budget: Standard accounts have 60 weighted requests/min per IP (protocol doc §5.10); Premium
accounts may raise it in config.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient
from . import schemas

EXCHANGE = "lighter"


class LighterRest(RestClient, exchange=EXCHANGE, base_url="https://mainnet.zklighter.elliot.ai", rate=5, burst=20,
                  rate_limit_codes=(23000,)):
    """``/api/v1/...`` routes of ``base_url`` (mainnet by default)."""

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": 23000, "message": "..."}`` -> (23000, "...")."""
        err = schemas.error_body.decode(body)
        return err.code, err.message
