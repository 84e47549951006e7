"""Wire helpers shared by the emulated venues: one JSON encoder, JSON answers, prices and
quantities at a market's decimals, and the error type of the dialects whose errors carry a code,
a message and an HTTP status."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from ...engine import MarketSpec

#: ``encode(obj) -> bytes``: compact JSON (msgspec), as every venue writes it on the wire
encode = msgspec.json.Encoder().encode


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as an ``application/json`` answer with HTTP ``status``."""
    return web.Response(body=encode(data), status=status, content_type="application/json")


def price_str(m: MarketSpec, price: float) -> str:
    """``price`` with exactly ``m.price_decimals`` decimals (``"65000.1"``)."""
    return f"{price:.{m.price_decimals}f}"


def qty_str(m: MarketSpec, qty: float) -> str:
    """``qty`` (base units) with exactly ``m.size_decimals`` decimals (``"0.050"``)."""
    return f"{qty:.{m.size_decimals}f}"


class VenueApiError(Exception):
    """An error answer of a venue: ``code`` (the venue's own, an int or a name), ``message`` and
    the HTTP ``status`` (400 unless given). Each venue subclasses it and writes its own body."""

    def __init__(self, code: Any, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
