"""Aster's public REST API (:class:`~perpdex.exchanges.http.RestClient`), used by the client, the
feed (diff-mode snapshots, funding intervals) and the funding adapter.

Errors (docs/exchanges/aster.md §5.11): HTTP 429/418 or code -1003 -> :class:`RateLimited`;
-1121 -> :class:`MarketNotFound`; any other ``{"code": -NNNN, "msg": ...}`` or non-200 answer ->
:class:`ExchangeError` (with the code); transport failures -> :class:`NetworkError`; an answer
that does not match the schema -> :class:`ExchangeError` naming the field.

Budget: REQUEST_WEIGHT 2400/min (exchangeInfo rateLimits, protocol doc §2.2); depth costs 2-20
weight, so 20 requests/s stays well inside it.
"""

from __future__ import annotations

from typing import Any

from ..http import RestClient
from .schemas import ErrorBody, decode

EXCHANGE = "aster"


class AsterRest(RestClient, exchange=EXCHANGE, base_url="https://fapi.asterdex.com", rate=20, burst=40,
                rate_limit_statuses=(418, 429), rate_limit_codes=(-1003,), not_found_codes=(-1121,)):
    """``/fapi/...`` routes of ``base_url`` (live ``https://fapi.asterdex.com``)."""

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        """``{"code": -1121, "msg": "Invalid symbol."}`` -> (-1121, "Invalid symbol.")."""
        err = decode(ErrorBody, body)
        return err.code, err.msg
