"""Backpack emulator, shared layer: Backpack-shaped errors and payload parse errors, the socket
type, and the dialect's state, symbol and number formatting, REST plumbing (middleware, faults)
and the ED25519 request auth that the REST and WebSocket layers build on. Protocol:
docs/exchanges/backpack.md."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ....exchanges.backpack.symbols import PERP_SUFFIX, exchange_base
from ...engine import SimError, Venue, now_ms
from ...wsqueue import QueuedSocket
from .._shared.streaming import StreamingEmulator
from .._shared.wire import encode as _encode
from .._shared.wire import json_response as _json
from .._shared.wire import price_str, qty_str
from .auth import DEFAULT_WINDOW_MS, MAX_WINDOW_MS, signing_strings

log = logging.getLogger(__name__)

EXCHANGE = "backpack"
QUEUE_LIMIT = 5000
PING_INTERVAL = 60.0  # seconds: the server pings; no pong in time closes the socket (§4.2)
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)

_INSTRUCTIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/account"): "accountQuery",
    ("PATCH", "/api/v1/account"): "accountUpdate",
    ("GET", "/api/v1/capital"): "balanceQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/api/v1/order"): "orderQuery",
    ("POST", "/api/v1/order"): "orderExecute",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/wapi/v1/history/orders"): "orderHistoryQueryAll",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/wapi/v1/history/funding"): "fundingHistoryQueryAll",
}
_STATUS = {"new": "New", "untriggered": "TriggerPending", "partially_filled": "PartiallyFilled", "filled": "Filled", "canceled": "Cancelled",
           "expired": "Expired", "rejected": "Cancelled"}
_EVENT = {"new": "orderAccepted", "untriggered": "triggerPlaced", "canceled": "orderCancelled", "expired": "orderExpired", "rejected": "orderCancelled"}
_TIF_IN = {"GTC": "gtc", "IOC": "ioc", "FOK": "fok"}
_TRIGGER_BY = {"MarkPrice": "mark", "LastPrice": "last", "IndexPrice": "index"}
_TRIGGER_OUT = {v: k for k, v in _TRIGGER_BY.items()}
#: engine system orders/fills (Venue.liquidate) -> order-update origin ``O`` (§6.2) and the
#: fills history ``systemOrderType`` (§5.9)
_ORIGINS = {"liquidation": "LIQUIDATION_AUTOCLOSE", "adl": "ADL_AUTOCLOSE"}
_SYSTEM_FILLS = {"liquidation": "LiquidatePositionOnBook", "adl": "LiquidatePositionOnAdl"}
_TIF_OUT = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "GTC"}
_STREAM_RE = re.compile(r"^(?P<kind>depth|bookTicker|markPrice|ticker|openInterest)"
                        r"(?:\.(?P<ms>200ms|600ms|1000ms))?\.(?P<sym>[A-Za-z0-9_.]+)$")
_PRIVATE_RE = re.compile(r"^account\.(?P<kind>orderUpdate|positionUpdate|rfqUpdate|balanceUpdate)(?:\.(?P<sym>[A-Za-z0-9_.]+))?$")


class BackpackApiError(Exception):
    """A Backpack-shaped error: HTTP ``status`` with ``{"code": code, "message": message}``, or
    a plain-text body when ``code`` is None (payload parse errors)."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        if self.code is None:
            return web.Response(status=self.status, text=self.message, content_type="text/plain")
        return web.Response(status=self.status, body=_encode({"code": self.code, "message": self.message}),
                            content_type="application/json")


def _parse_error(what: str, detail: str, payload: str) -> BackpackApiError:
    return BackpackApiError(400, None, f'Bad Request parse request payload error: failed to parse "{what}": {detail} '
                                       f'(occurred while parsing "{payload}")')


def _enum(value: Any, mapping: dict[str, str], what: str) -> str:
    """``mapping[value]`` for a known enum string; Backpack's parse error otherwise."""
    if not isinstance(value, str) or value not in mapping:
        raise _parse_error(what, "Expect a valid enumeration value.", "OrderExecutePayload")
    return mapping[value]


def iso_ms(ts_ms: int) -> str:
    """Epoch ms -> naive ISO-8601 UTC as Backpack's history endpoints write it."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") if dt.microsecond else dt.isoformat(timespec="seconds")


class _Socket(QueuedSocket):
    """One client WebSocket (bounded send queue + writer task), its streams and its account."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        super().__init__(ws, EXCHANGE, QUEUE_LIMIT)
        self.streams: set[str] = set()
        self.account: str | None = None


class _BackpackBase(StreamingEmulator):
    """State, formatting, REST plumbing and auth of the Backpack dialect over one :class:`Venue`."""

    EXCHANGE = EXCHANGE
    fault_delay = 0.5  # seconds, for the injected ``delay`` fault

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        self._dex = {s: exchange_base(s, m.multiplier) + PERP_SUFFIX for s, m in venue.markets.items()}
        self._by_dex = {d: s for s, d in self._dex.items()}  # "kBONK_USDC_PERP" -> "BONK"
        self._socks: set[_Socket] = set()
        self._last_bbo: dict[str, Any] = {}
        self._leverage_limit: dict[str, int] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def dex_symbol(self, symbol: str) -> str:
        """Canonical -> Backpack symbol (``"BTC"`` -> ``"BTC_USDC_PERP"``, a 1 000-unit bundle of
        BONK -> ``"kBONK_USDC_PERP"``)."""
        return self._dex.get(symbol) or symbol + PERP_SUFFIX

    def _canonical(self, dex: Any) -> str | None:
        return self._by_dex.get(str(dex or ""))

    def _symbol_param(self, value: Any, payload: str, required: bool = True) -> str | None:
        if value is None or value == "":
            if required:
                raise _parse_error("MarketSymbol", "field is required", payload)
            return None
        sym = self._canonical(value)
        if sym is None:
            raise _parse_error("MarketSymbol", "Invalid market symbol", payload)
        return sym

    _px = staticmethod(price_str)
    _qty = staticmethod(qty_str)

    def leverage_limit(self, account: str) -> int:
        return self._leverage_limit.get(account, self.venue.default_leverage)

    # -- REST plumbing ---------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.startswith(("/api/", "/wapi/")):
            faults = self.venue.faults
            if faults.take("delay"):
                await asyncio.sleep(self.fault_delay)
            if faults.take("http429"):
                return BackpackApiError(429, "TOO_MANY_REQUESTS", "Too many requests").response()
        try:
            return await handler(request)
        except BackpackApiError as exc:
            return exc.response()
        except SimError as exc:
            return self._sim_error(exc).response()
        except web.HTTPException:
            raise
        except Exception:  # noqa: BLE001 - bad input never crashes the server
            log.exception("%s emulator: %s %s failed", EXCHANGE, request.method, request.path)
            return BackpackApiError(500, "SERVER_ERROR", "Internal server error").response()

    @staticmethod
    def _sim_error(exc: SimError) -> BackpackApiError:
        if exc.kind == "margin":
            return BackpackApiError(400, "INSUFFICIENT_MARGIN", "Insufficient margin")
        if exc.kind == "not_found":
            return BackpackApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        if exc.kind == "reduce_only":
            return BackpackApiError(400, "INVALID_ORDER", "Reduce only order not reduced")
        if exc.kind == "rejected":
            return BackpackApiError(400, "INVALID_ORDER", "Order rejected")
        return BackpackApiError(400, "INVALID_ORDER", f"Invalid order: {exc.message}")

    # -- auth -------------------------------------------------------------------------------------
    def _private(self, method: str, path: str, fn: Callable[[str, dict[str, Any]], Awaitable[Any]]
                 ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        instruction = _INSTRUCTIONS[(method, path)]

        async def handler(request: web.Request) -> web.StreamResponse:
            params: dict[str, Any]
            if method == "GET":
                params = dict(request.query)
            else:
                raw = await request.read()
                if not raw.strip():
                    params = {}
                else:
                    try:
                        decoded = msgspec.json.decode(raw)
                    except msgspec.DecodeError as exc:
                        raise _parse_error("JSON", f"invalid JSON body ({exc})", instruction) from None
                    if not isinstance(decoded, dict):
                        raise _parse_error("JSON", "body must be an object", instruction)
                    params = decoded
            account = self._verify(request, instruction, params)
            result = await fn(account, params)
            if result is None:
                return web.Response(status=200)
            return _json(result)

        return handler

    def _verify(self, request: web.Request, instruction: str, params: dict[str, Any]) -> str:
        """Check the ED25519 signature and the timestamp window; returns the account (API key)."""
        h = request.headers
        key, sig, ts, window = h.get("X-API-Key"), h.get("X-Signature"), h.get("X-Timestamp"), h.get("X-Window")
        for name, value in (("X-API-Key", key), ("X-Signature", sig), ("X-Timestamp", ts)):
            if not value:
                raise BackpackApiError(401, "UNAUTHORIZED", f"Missing {name} header")
        assert key is not None and sig is not None and ts is not None
        window = window or str(DEFAULT_WINDOW_MS)
        if not ts.isdigit() or not window.isdigit():
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Invalid X-Timestamp or X-Window header")
        if int(window) > MAX_WINDOW_MS:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", f"Window must be at most {MAX_WINDOW_MS}")
        now = now_ms()
        if now - int(ts) > int(window) or int(ts) - now > int(window):
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Request has expired")
        if not self._signature_ok(key, sig, [s.encode() for s in signing_strings(instruction, params, ts, window)]):
            raise BackpackApiError(401, "INVALID_SIGNATURE", "Invalid signature")
        return key

    @staticmethod
    def _signature_ok(key: str, sig: str, messages: list[bytes]) -> bool:
        try:
            pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True))
            raw_sig = base64.b64decode(sig, validate=True)
        except (ValueError, TypeError):
            return False
        for msg in messages:
            try:
                pub.verify(raw_sig, msg)
                return True
            except InvalidSignature:
                continue
        return False
