"""Aster emulator, shared layer: Aster-shaped errors and parameter parsing, the stream and socket
types, and the dialect's state, REST plumbing (middleware, faults, signed-request auth with
nonces and agents) and wire formatting that the REST and WebSocket layers build on. Protocol:
docs/exchanges/aster.md."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ....exchanges.aster.auth import recover_signer
from ....exchanges.aster.symbols import DEFAULT_QUOTE
from ...engine import MarketSpec, Order, SimError, Venue
from ...wsqueue import QueuedSocket
from .._shared.streaming import StreamingEmulator
from .._shared.wire import encode as _encode
from .._shared.wire import json_response as _json
from .._shared.wire import price_str, qty_str
from .auth import split_signed

log = logging.getLogger(__name__)

EXCHANGE = "aster"
#: The public demo key from Aster's API docs (docs/exchanges/aster.md §5.1): the sim account.
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
PARTIAL_LEVELS = (5, 10, 20)
NONCE_WINDOW_US = 10_000_000
NONCES_KEPT = 100
QUEUE_LIMIT = 5000
FUNDING_CAP = 0.03
_STREAM_RE = re.compile(
    r"^(?P<sym>[a-z0-9]+)@(?:(?P<depth>depth)(?P<n>\d+)?(?:@(?P<dms>100|250|500)ms)?"
    r"|(?P<bbo>bookTicker)|(?P<mark>markPrice)(?:@(?P<mms>1)s)?)$"
)
_STATUS = {"new": "NEW", "untriggered": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED",
           "canceled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}
#: workingType -> the engine's trigger reference (CONTRACT_PRICE is the last price)
_WORKING_TYPE = {"MARK_PRICE": "mark", "CONTRACT_PRICE": "last"}
_WORKING_OUT = {v: k for k, v in _WORKING_TYPE.items()}
_TIF_IN = {"GTC": "gtc", "IOC": "ioc", "FOK": "fok", "GTX": "post_only", "HIDDEN": "gtc"}
_TIF_OUT = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "GTX"}


class AsterApiError(Exception):
    """An Aster-shaped error answer: HTTP ``status`` with ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=_encode({"code": self.code, "msg": self.msg}),
                            content_type="application/json")


def _missing(name: str) -> AsterApiError:
    return AsterApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _parse_bool(params: dict[str, str], name: str) -> bool:
    """Aster booleans ``"true"``/``"false"``; ccxt sends ``True``/``False`` (case-insensitive)."""
    v = params.get(name)
    if v is None or v == "":
        return False
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    raise AsterApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def _parse_num(params: dict[str, str], name: str, conv: Callable[[str], Any], required: bool = True) -> Any:
    """``conv(params[name])`` (``int`` or ``float``); None when absent and optional; -1102 when
    missing, malformed or not finite."""
    v = params.get(name)
    if v is None or v == "":
        if required:
            raise _missing(name)
        return None
    try:
        x = conv(v)
    except ValueError:
        raise _missing(name) from None
    if isinstance(x, float) and not math.isfinite(x):
        raise _missing(name)
    return x


def _on_grid(value: float, step: float) -> bool:
    units = value / step
    return abs(units - round(units)) <= 1e-6


@dataclass
class _Stream:
    """One subscribed stream: ``kind`` partial | diff | bbo | mark; ``every_ms`` cadence of
    periodic streams (partial depth, mark price)."""

    name: str
    symbol: str  # canonical
    kind: str
    levels: int = 0
    every_ms: int = 0
    due_ms: int = 0


class _Socket(QueuedSocket):
    """One client WebSocket (bounded send queue + writer task) and its streams."""

    def __init__(self, ws: web.WebSocketResponse, combined: bool) -> None:
        super().__init__(ws, EXCHANGE, QUEUE_LIMIT)
        self.combined = combined
        self.streams: dict[str, _Stream] = {}

    def frame(self, stream: str, payload: bytes) -> bytes:
        """``payload`` wrapped as ``{"stream": ..., "data": ...}`` on combined sockets."""
        if self.combined:
            return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        return payload


class _AsterBase(StreamingEmulator):
    """State, REST plumbing, auth and formatting of the Aster dialect over one :class:`Venue`."""

    EXCHANGE = EXCHANGE
    fault_delay = 0.5  # seconds, for the injected ``delay`` fault

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        self._by_dex = {self.dex_symbol(s): s for s in venue.markets}  # "1000PEPEUSDT" -> "PEPE"
        self._market_socks: set[_Socket] = set()
        self._user_socks: dict[str, set[_Socket]] = {}
        self._listen_keys: dict[str, str] = {}  # key -> account
        self._nonces: dict[str, deque[int]] = {}
        self._agents: set[tuple[str, str]] = set()
        self._last_seq: dict[str, tuple[int, int]] = {}  # symbol -> (prev_seq, seq) last published
        self._last_bbo: dict[str, tuple[Any, Any]] = {}
        #: canonical symbols left out of ``fundingInfo`` (Aster does not promise to list every
        #: symbol there; clients then fall back to 8 h)
        self.unlisted_funding_info: set[str] = set()

    # -- public helpers --------------------------------------------------------------------------
    def approve_agent(self, user: str, signer: str) -> None:
        """Authorise API wallet ``signer`` to sign for ``user`` (``signer == user`` always is)."""
        self._agents.add((user.lower(), signer.lower()))

    def subscriptions(self) -> list[list[str]]:
        """The stream names subscribed on each open market WebSocket (for inspection)."""
        return [list(s.streams) for s in self._market_socks]

    def dex_symbol(self, symbol: str) -> str:
        """Canonical -> Aster symbol (``"PEPE"`` -> ``"1000PEPEUSDT"`` for a bundled market)."""
        m = self.venue.markets.get(symbol)
        return (m.exchange_base if m is not None else symbol) + DEFAULT_QUOTE

    # -- REST plumbing and auth ------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        is_rest = request.path.startswith(("/fapi/", "/api/"))
        if is_rest:
            faults = self.venue.faults
            if faults.take("delay"):
                await asyncio.sleep(self.fault_delay)
            if faults.take("http429"):
                return AsterApiError(429, -1003, "Too many requests; current limit is 2400 requests per minute. "
                                     "Please use the websocket for live updates to avoid polling the API.").response()
        try:
            return await handler(request)
        except AsterApiError as exc:
            return exc.response()
        except SimError as exc:
            return self._sim_error(exc, "order").response()
        except web.HTTPException:
            raise
        except Exception:  # noqa: BLE001 - bad input never crashes the server
            log.exception("%s emulator: %s %s failed", EXCHANGE, request.method, request.path)
            return AsterApiError(500, -1000, "An unknown error occurred while processing the request.").response()

    @staticmethod
    def _sim_error(exc: SimError, op: str) -> AsterApiError:
        if exc.kind == "margin":
            return AsterApiError(400, -2019, "Margin is insufficient.")
        if exc.kind == "not_found":
            if op == "cancel":
                return AsterApiError(400, -2011, "Unknown order sent.")
            return AsterApiError(400, -2013, "Order does not exist.")
        if exc.kind == "reduce_only":
            return AsterApiError(400, -2022, "ReduceOnly Order is rejected.")
        return AsterApiError(400, -2010, f"New order rejected: {exc.message}")

    async def _read_params(self, request: web.Request) -> tuple[dict[str, str], str]:
        """Query + form parameters (first occurrence wins) and the raw signed string."""
        raw_query = request.rel_url.raw_query_string
        raw_body = ""
        if request.method != "GET" and request.can_read_body:
            raw_body = (await request.read()).decode("utf-8", errors="replace")
        params: dict[str, str] = {}
        for raw in (raw_query, raw_body):
            for k, v in parse_qsl(raw, keep_blank_values=True):
                params.setdefault(k, v)
        signed = raw_body if "signature=" in raw_body else raw_query
        return params, signed

    def _public(self, fn: Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            params, _ = await self._read_params(request)
            return await fn(request, params)
        return handler

    def _private(self, fn: Callable[[str, dict[str, str]], Awaitable[Any]], *, eip712: bool = True) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            params, signed = await self._read_params(request)
            account = self._authenticate(params, signed, eip712)
            return _json(await fn(account, params))
        return handler

    def _authenticate(self, params: dict[str, str], signed: str, eip712: bool) -> str:
        """Check V3 auth; returns the account id (lower-cased ``user``)."""
        for name in ("user", "signer", "nonce") if eip712 else ("user", "nonce"):
            if not params.get(name):
                raise _missing(name)
        if not params.get("signature"):
            raise AsterApiError(401, -1022, "Signature for this request is not valid.")
        user = params["user"].lower()
        signer = params["signer"].lower() if eip712 else user
        nonce = _parse_num(params, "nonce", int)
        assert nonce is not None
        if abs(nonce - time.time() * 1_000_000) > NONCE_WINDOW_US:
            raise AsterApiError(400, -4225, "Nonce Expired")
        if eip712:
            parts = split_signed(signed)
            recovered = recover_signer(parts[0], parts[1]) if parts else None
            if parts is None or (recovered is not None and recovered != signer):
                raise AsterApiError(401, -1022, "Signature for this request is not valid.")
        if signer != user and (user, signer) not in self._agents:
            raise AsterApiError(401, -1002, "You are not authorized to execute this request.")
        seen = self._nonces.setdefault(user, deque(maxlen=NONCES_KEPT))
        if nonce in seen or (len(seen) == NONCES_KEPT and nonce < min(seen)):
            raise AsterApiError(400, -4225, "Nonce Expired")
        seen.append(nonce)
        return user

    # -- formatting -------------------------------------------------------------------------------
    def _symbol(self, params: dict[str, str], required: bool = True) -> str | None:
        """Canonical symbol from ``params['symbol']`` (``BTCUSDT``); raises -1121 if unknown."""
        raw = params.get("symbol")
        if not raw:
            if required:
                raise _missing("symbol")
            return None
        sym = self._by_dex.get(raw)
        if sym is not None:
            return sym
        raise AsterApiError(400, -1121, "Invalid symbol.")

    _px = staticmethod(price_str)
    _qty = staticmethod(qty_str)

    def _levels(self, m: MarketSpec, levels: list[tuple[float, float]]) -> list[list[str]]:
        pd, sd = m.price_decimals, m.size_decimals
        return [[f"{p:.{pd}f}", f"{s:.{sd}f}"] for p, s in levels]

    def _order_json(self, o: Order) -> dict[str, Any]:
        m = self.venue.markets[o.symbol]
        return {
            "orderId": o.id, "symbol": self.dex_symbol(o.symbol), "status": _STATUS.get(o.status, "NEW"),
            "clientOrderId": o.client_id or f"sim-{o.id}",
            "price": self._px(m, o.price) if o.price is not None else "0",
            "avgPrice": self._px(m, o.avg_price), "origQty": self._qty(m, o.qty),
            "executedQty": self._qty(m, o.filled), "cumQty": self._qty(m, o.filled),
            "cumQuote": f"{o.cost:.8f}", "timeInForce": _TIF_OUT.get(o.tif, "GTC"),
            "type": self._type(o), "origType": o.type.upper(), "side": o.side.upper(),
            "reduceOnly": o.reduce_only, "closePosition": o.close_position, "positionSide": "BOTH",
            "stopPrice": self._px(m, o.trigger_price) if o.trigger_price else "0",
            "workingType": _WORKING_OUT.get(o.trigger_by or "last", "CONTRACT_PRICE"), "priceProtect": False,
            "time": o.created_ms, "updateTime": o.updated_ms,
        }

    @staticmethod
    def _type(o: Order) -> str:
        """The wire type: a stop that fired executes as ``MARKET`` (``origType`` keeps ``STOP_MARKET``)."""
        return "MARKET" if o.type == "stop_market" and o.triggered_ms is not None else o.type.upper()

    def _interval_hours(self, m: MarketSpec) -> int | float:
        h = m.funding_interval_hours
        return int(h) if float(h).is_integer() else h
