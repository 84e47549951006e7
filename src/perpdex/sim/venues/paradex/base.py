"""Paradex emulator, shared layer: Paradex-shaped errors, order ids, the socket type, and the
dialect's state, REST plumbing (middleware, faults, errors) and auth (Starknet-signed
``/v1/auth``, JWTs) that the REST and WebSocket layers build on. Protocol:
docs/exchanges/paradex.md."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from ....exchanges.paradex import signer
from ....exchanges.paradex.symbols import market_name
from ...engine import SimError, Venue, now_ms
from ...wsqueue import QueuedSocket
from .._shared.streaming import StreamingEmulator
from .._shared.wire import VenueApiError, json_response
from .._shared.wire import encode as _encode
from .auth import SIM_ACCOUNT, SIM_STARK_PRIVATE_KEY

log = logging.getLogger(__name__)

EXCHANGE = "paradex"
CHAIN_ID = "PRIVATE_SN_PERPDEX_SIM"
L1_CHAIN_ID = "11155111"
ORDER_ID_BASE = 10**27
JWT_LIFETIME_S = 300
PUMP_SECONDS = 0.05
SNAPSHOT_DEPTH = 15
MAX_QUEUE = 20_000
_CONFIG = {
    "starknet_chain_id": CHAIN_ID, "l1_chain_id": L1_CHAIN_ID,
    "paraclear_account_hash": "0x033434ad846cdd5f23eb73ff09fe6fddd568284a0fb7d1be20ee482f044dabe2",
    "paraclear_account_proxy_hash": "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9",
    "paraclear_address": "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7554d",
    "paraclear_decimals": 8, "starknet_fullnode_rpc_url": "http://127.0.0.1:1/rpc/v0_10",
    "bridged_tokens": [], "environment": "local", "liquidation_fee": "0.20",
}
_REQUEST_FIELDS = ("method", "path", "body", "timestamp", "expiration")
_ORDER_FIELDS = ("timestamp", "market", "side", "orderType", "size", "price")
_SNAPSHOT_RATES = {"50ms": 0.05, "100ms": 0.1, "200ms": 0.2, "400ms": 0.4}
_TIF = {"GTC": "gtc", "IOC": "ioc", "POST_ONLY": "post_only", "RPI": "gtc"}
_TIF_BACK = {"gtc": "GTC", "ioc": "IOC", "post_only": "POST_ONLY", "fok": "IOC"}
_REJECT_REASON = {"margin": "NOT_ENOUGH_MARGIN", "reduce_only": "REDUCE_ONLY_WILL_INCREASE",
                  "rejected": "ORDER_EXCEEDS_POSITION_LIMIT"}
_STOP_TYPES = ("STOP_MARKET", "STOP_LOSS_MARKET")
_PRIVATE_PREFIXES = ("orders.", "fills.", "funding_payments.")
_PRIVATE_BARE = ("positions", "account", "balance_events")


FUNDING_SAMPLE_MS = 300_000  # spacing of the generated past's funding observations (the live venue: ~1 s)


class ParadexApiError(VenueApiError):
    """A Paradex-shaped error answer: HTTP ``status`` with ``{"error": code, "message": message,
    "data": null}`` (``code`` a name such as ``"ORDER_ID_NOT_FOUND"``)."""

    code: str


def _fmt(x: float | Decimal | None) -> str:
    """Number -> Paradex decimal string (no exponent, no trailing zeros); None -> ""."""
    if x is None:
        return ""
    d = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "") else s


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def order_id(engine_id: int) -> str:
    return str(ORDER_ID_BASE + engine_id)


def engine_order_id(oid: str) -> int | None:
    try:
        n = int(oid) - ORDER_ID_BASE
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


# --------------------------------------------------------------------------------------------------
# WebSocket clients
# --------------------------------------------------------------------------------------------------
class _WsClient(QueuedSocket):
    """One socket (bounded send queue + writer task), its subscriptions, encoding and auth."""

    def __init__(self, ws: web.WebSocketResponse, sbe_version: int | None) -> None:
        super().__init__(ws, EXCHANGE, MAX_QUEUE, binary_bytes=True)
        self.sbe_version = sbe_version
        self.channels: set[str] = set()
        self.snapshot_seq: dict[str, int] = {}  # snapshot channel -> seq_no last sent
        self.snapshot_due: dict[str, float] = {}  # snapshot channel -> loop time of next send
        self.account: str | None = None

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.push(frame if isinstance(frame, (str, bytes)) else _encode(frame).decode())


def _push(channel: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def _rpc_error(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    us = time.time_ns() // 1000
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message, "data": data},
            "usIn": us, "usDiff": 5, "usOut": us + 5}


# --------------------------------------------------------------------------------------------------
# The dialect
# --------------------------------------------------------------------------------------------------
class _ParadexBase(StreamingEmulator):
    """State, REST plumbing and auth of the Paradex dialect over one :class:`Venue`."""

    EXCHANGE = EXCHANGE
    PUMP_SECONDS = PUMP_SECONDS
    DROP_FLUSHES = True

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        self.markets: dict[str, str] = {}  # market name -> engine symbol
        for sym, m in venue.markets.items():
            self.markets[market_name(sym, int(getattr(m, "multiplier", 1) or 1))] = sym
        self.names = {sym: name for name, sym in self.markets.items()}
        self._jwt_key = os.urandom(32)
        self._pubkeys: dict[int, int] = {}  # account address -> Stark public key
        self.sim_public_key = signer.public_key(int(SIM_STARK_PRIVATE_KEY, 16))
        self._pubkeys[int(SIM_ACCOUNT, 16)] = self.sim_public_key
        self._clients: set[_WsClient] = set()
        self._book: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        self._seq: dict[str, int] = {}
        self._engine_seq: dict[str, int] = {}
        self._ts: dict[str, int] = {}
        for sym in venue.markets:
            b, a = venue.book(sym)
            self._book[sym] = (dict(b), dict(a))
            self._seq[sym] = 1_000_000 + venue.sequence(sym) % 1_000_000
            self._engine_seq[sym] = venue.sequence(sym)
            self._ts[sym] = now_ms()
        self._funding_index: dict[str, float] = {s: 0.0 for s in venue.markets}
        self._funding_at = time.monotonic()
        self._rejected: dict[str, dict[str, dict[str, Any]]] = {}  # account -> id -> order json
        self._cancel_reason: dict[int, str] = {}
        self._stop_types: dict[int, str] = {}  # engine id -> STOP_MARKET | STOP_LOSS_MARKET as placed
        self._payments: dict[str, list[dict[str, Any]]] = {}
        self._next_reject = 1
        self._summary_due = 0.0

    # -- REST plumbing ----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path.rstrip("/") == "/v1" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        if self.venue.faults.take("delay"):
            await asyncio.sleep(1.0)
        if self.venue.faults.take("http429"):
            return self._error_response(ParadexApiError("RATE_LIMIT_EXCEEDED", "Too many requests, rate limit exceeded", 429))
        try:
            return await handler(request)
        except ParadexApiError as exc:
            return self._error_response(exc)
        except web.HTTPException as exc:
            if exc.status == 404:
                return self._error_response(ParadexApiError("NOT_FOUND", "route not found", 404))
            if exc.status == 405:
                return self._error_response(ParadexApiError("BAD_REQUEST", "method not allowed", 405))
            raise
        except SimError as exc:
            return self._error_response(self._sim_error(exc))
        except Exception:  # noqa: BLE001 - bad input never crashes the emulator
            log.exception("%s emulator: handler failed", EXCHANGE)
            return self._error_response(ParadexApiError("INTERNAL_ERROR", "internal error", 500))

    @staticmethod
    def _error_response(exc: ParadexApiError) -> web.Response:
        return web.json_response({"error": exc.code, "message": exc.message, "data": None}, status=exc.status)

    @staticmethod
    def _sim_error(exc: SimError) -> ParadexApiError:
        if exc.kind == "not_found":
            return ParadexApiError("ORDER_ID_NOT_FOUND", exc.message, 404)
        if exc.kind == "invalid":
            if "price" in exc.message:
                return ParadexApiError("INVALID_PRICE_PRECISION", exc.message)
            if "quantity" in exc.message or "notional" in exc.message:
                return ParadexApiError("INVALID_ORDER_SIZE", exc.message)
            return ParadexApiError("INVALID_REQUEST_PARAMETER", exc.message)
        return ParadexApiError("BINDING_ERROR", exc.message)

    _json = staticmethod(json_response)

    def _market(self, name: str | None) -> str:
        sym = self.markets.get(name or "")
        if sym is None:
            raise ParadexApiError("MARKET_NOT_FOUND", f"market {name!r} not found", 400)
        return sym

    # a private push from either layer (a REST-rejected order, an engine event)
    def _emit_private(self, acct: str, kind: str, name: str, data: dict[str, Any]) -> None:
        channels: tuple[str, ...]
        if kind in ("positions", "account"):
            channels = (kind,)
        else:
            channels = (f"{kind}.{name}", f"{kind}.ALL")
        for c in self._clients:
            if c.account != acct:
                continue
            for ch in channels:
                if ch in c.channels:
                    # a fill frame is subject to the ``dup`` / ``user_drop`` faults
                    c.push_private(_encode(_push(ch, data)).decode(), self.venue.faults, self.markets.get(name),
                                   fill=kind == "fills")

    # -- auth -------------------------------------------------------------------------------------
    @staticmethod
    def _domain() -> dict[str, Any]:
        return {"name": "Paradex", "chainId": CHAIN_ID, "version": 1}

    @staticmethod
    def _header_int(request: web.Request, name: str, code: str) -> int:
        raw = request.headers.get(name, "")
        try:
            return int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            raise ParadexApiError(code, f"header {name} missing or invalid") from None

    @staticmethod
    def _signature(text: str) -> tuple[int, int]:
        try:
            return signer.parse_signature(text)
        except (ValueError, TypeError):
            raise ParadexApiError("INVALID_STARKNET_SIGNATURE", "signature must be a JSON array [\"r\",\"s\"]") from None

    async def _auth(self, request: web.Request) -> web.Response:
        account = self._header_int(request, "PARADEX-STARKNET-ACCOUNT", "INVALID_STARKNET_ADDRESS")
        sig = self._signature(request.headers.get("PARADEX-STARKNET-SIGNATURE", ""))
        ts = self._header_int(request, "PARADEX-TIMESTAMP", "INVALID_TIMESTAMP")
        exp = self._header_int(request, "PARADEX-SIGNATURE-EXPIRATION", "INVALID_SIGNATURE_EXPIRATION")
        now = int(time.time())
        if ts > now + 60 or ts < now - 86_400:
            raise ParadexApiError("INVALID_TIMESTAMP", "timestamp out of range (seconds expected)")
        if exp <= now:
            raise ParadexApiError("INVALID_SIGNATURE_EXPIRATION", "signature expired", 401)
        pub = self._pubkeys.get(account)
        if pub is None:
            raise ParadexApiError("NOT_ONBOARDED", "User has never called /onboarding endpoint")
        h = signer.message_hash(self._domain(), "Request", _REQUEST_FIELDS,
                                {"method": "POST", "path": "/v1/auth", "body": "", "timestamp": ts, "expiration": exp}, account)
        if not signer.verify(h, sig[0], sig[1], pub):
            raise ParadexApiError("STARKNET_SIGNATURE_VERIFICATION_FAILED", "auth signature does not verify", 401)
        return self._json({"jwt_token": self.issue_jwt(hex(account), pub, now)})

    def issue_jwt(self, account: str, pub: int, now: int | None = None, lifetime: int = JWT_LIFETIME_S) -> str:
        """An HS256 JWT for ``account`` expiring ``lifetime`` seconds from ``now``."""
        now = int(time.time()) if now is None else now
        head = _b64(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64(_encode({"typ": "at+JWT", "sub": account.lower(), "pubkey": hex(pub), "iat": now,
                                "exp": now + lifetime, "token_usage": "trading"}))
        sig = _b64(hmac.new(self._jwt_key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
        return f"{head}.{payload}.{sig}"

    def _jwt_account(self, token: str) -> str:
        """The account of a valid JWT; raises ParadexApiError (401) otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ParadexApiError("UNAUTHORIZED_ERROR", "missing or malformed jwt", 401)
        want = _b64(hmac.new(self._jwt_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, parts[2]):
            raise ParadexApiError("UNAUTHORIZED_ERROR", "invalid bearer jwt: signature is invalid", 401)
        try:
            claims = json.loads(_unb64(parts[1]))
            exp, sub = int(claims["exp"]), str(claims["sub"])
        except (ValueError, KeyError, TypeError):
            raise ParadexApiError("UNAUTHORIZED_ERROR", "missing or malformed jwt", 401) from None
        if exp <= time.time():
            raise ParadexApiError("UNAUTHORIZED_ERROR", "invalid bearer jwt: token is expired", 401)
        return sub

    def _acct(self, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise ParadexApiError("UNAUTHORIZED_ERROR", "missing or malformed jwt", 401)
        return self._jwt_account(auth[7:].strip())
