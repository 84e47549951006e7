"""What every exchange's funding-history download shares: epoch-millisecond conversions and one
request of a page, retried on rate limits and transport failures, with errors naming the
exchange and the request (path and parameters).

Each exchange's own paging lives beside its funding adapter (``exchanges/<name>/funding.py``),
next to the live normalization it reuses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec

from ..errors import ExchangeError, NetworkError, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

#: attempts of one page request on a rate-limit answer or a transport failure (the exchange's
#: rate budget backs off between them, see ``exchanges/http.py``)
PAGE_ATTEMPTS = 4


def to_ms(ts: datetime) -> int:
    """Aware (or naive UTC) datetime -> epoch milliseconds."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def describe(path: str, params: dict[str, Any] | None = None) -> str:
    """``"GET /fapi/v3/fundingRate?symbol=BTCUSDT&limit=1000"``: the request as errors name it."""
    return f"GET {path}" + (f"?{urlencode(params)}" if params else "")


async def request_page(exchange: str, request: str, call: Callable[[], Awaitable[T]],
                       attempts: int = PAGE_ATTEMPTS) -> T:
    """``await call()`` (one GET and its decoding), retried up to ``attempts`` times in all on
    :class:`RateLimited` / :class:`NetworkError`. Any failure left is raised as the same
    :class:`ExchangeError` subclass (a body that does not decode: :class:`ExchangeError`), its
    message naming ``exchange`` and ``request`` (see :func:`describe`)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (RateLimited, NetworkError) as exc:
            if attempt == attempts:
                raise _named(exc, exchange, request) from None
            log.warning("%s: %s failed (%s); attempt %d of %d", exchange, request, exc, attempt + 1, attempts)
        except ExchangeError as exc:
            raise _named(exc, exchange, request) from None
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ExchangeError(f"funding history {request}: unexpected answer ({exc})", exchange=exchange) from None
    raise AssertionError("unreachable")


def _named(exc: ExchangeError, exchange: str, request: str) -> ExchangeError:
    detail = str(exc).removeprefix(f"[{exc.exchange}] ")
    return type(exc)(f"funding history {request}: {detail}", exchange=exchange, code=exc.code)
