"""Paradex's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client
and the funding adapter.

Errors (docs/exchanges/paradex.md §5.10): HTTP 429 -> :class:`RateLimited`, 401 ->
:class:`AuthenticationError`, other non-2xx ``{"error": "<CODE>", "message": ...}`` answers ->
:class:`ExchangeError` with the ``error`` code, transport failures -> :class:`NetworkError`.

Budget: REST limits are not documented (protocol doc open points); a conservative default.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient
from . import schemas

EXCHANGE = "paradex"


class ParadexRest(RestClient, exchange=EXCHANGE, base_url="https://api.prod.paradex.trade/v1", rate=20, burst=20):
    """Routes of ``base_url``, which ends in ``/v1`` (mainnet by default)."""

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"error": "NOT_FOUND", "message": "..."}`` -> ("NOT_FOUND", "...") (the status when
        ``error`` is empty)."""
        err = schemas.error_decoder.decode(body)
        return err.error or str(status), err.message
