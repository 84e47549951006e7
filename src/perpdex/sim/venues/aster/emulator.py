"""Aster's wire dialect over the venue engine: REST (public + signed V3 private) and WebSocket
(combined market streams + user-data stream), close enough to the real API that unmodified
``ccxt.async_support.aster`` / ``ccxt.pro.aster`` 4.5.90 trade against it with only URLs and a
private key changed (see :meth:`AsterEmulator.endpoints`).

Protocol source: docs/exchanges/aster.md (asterdex/api-docs V3; ccxt 4.5.90 behaviour, §7.5).

* Symbols: canonical ``"BTC"`` <-> ``"BTCUSDT"``; quote and margin asset USDT.
* Accounts: the engine account id is the lower-cased ``user`` address of a signed request.
* Auth: ``user``, ``signer``, ``nonce`` (µs, ±10 s window, last 100 per user, duplicates
  rejected with -4225) and ``signature`` (EIP-712 over the raw parameter string, verified when
  coincurve is installed; ``signer`` must equal ``user`` or be an approved agent,
  :meth:`AsterEmulator.approve_agent`). Missing or bad signature -> HTTP 401 ``-1022``.
* Errors: ``{"code": -NNNN, "msg": ...}`` with HTTP 4xx. Engine errors map by kind: invalid ->
  -2010 (after Aster's own pre-checks -4014 tick, -4023 step, -4004 min qty, -4164 min notional),
  margin -> -2019, not_found -> -2011 (cancel) / -2013 (query), reduce_only -> -2022,
  rejected -> -2010.
* Faults (``venue.faults``): ``http429`` -> HTTP 429 ``-1003``; ``delay`` -> the next REST answer
  waits :attr:`AsterEmulator.fault_delay` s; ``malformed`` -> the next market frame for that
  symbol is truncated; ``drop`` -> every market socket is closed; ``gap`` comes from the engine
  (a book event whose ``prev_seq`` skips one, visible as ``pu`` != previous ``u``); on the
  user-data stream ``dup`` sends the next fill frame twice and ``user_drop`` loses it and closes
  the socket. Engine liquidations / ADL come as ``ORDER_TRADE_UPDATE`` with type ``LIQUIDATION``
  (``x`` ``CALCULATED`` for liquidations) and client id ``autoclose-…`` / ``adl_autoclose-…``.
* Streams: ``<sym>@depth<N>[@100ms|@500ms]`` (N in 5/10/20; full top-N snapshot at the cadence,
  the first right after SUBSCRIBE), ``<sym>@depth[@100ms|@500ms]`` (diffs with U/u/pu, one per
  engine book change), ``<sym>@bookTicker`` (on top-of-book change), ``<sym>@markPrice[@1s]``.
  Every socket has its own bounded queue and writer task, so the engine never waits on a
  client; a socket whose queue overflows is closed (slow consumer).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import msgspec
from aiohttp import web

from ....exchanges.aster.auth import recover_signer
from ....exchanges.aster.symbols import DEFAULT_QUOTE
from ...engine import (
    BookEvent,
    Event,
    FundingEvent,
    MarketSpec,
    Order,
    OrderEvent,
    SimError,
    Venue,
    now_ms,
)
from ...wsqueue import STALL_SECONDS, QueuedSocket
from .auth import SIM_PRIVATE_KEY, split_signed

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
_encode = msgspec.json.Encoder().encode


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


def _json(data: Any) -> web.Response:
    return web.Response(body=_encode(data), content_type="application/json")


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


class AsterEmulator:
    """Serve one :class:`~perpdex.sim.engine.Venue` with Aster's protocol (see module doc)."""

    fault_delay = 0.5  # seconds, for the injected ``delay`` fault

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self._by_dex = {self.dex_symbol(s): s for s in venue.markets}  # "1000PEPEUSDT" -> "PEPE"
        self._unsubscribe = venue.subscribe(self._on_event)
        self._market_socks: set[_Socket] = set()
        self._user_socks: dict[str, set[_Socket]] = {}
        self._listen_keys: dict[str, str] = {}  # key -> account
        self._nonces: dict[str, deque[int]] = {}
        self._agents: set[tuple[str, str]] = set()
        self._pump_task: asyncio.Task[None] | None = None
        self._last_seq: dict[str, tuple[int, int]] = {}  # symbol -> (prev_seq, seq) last published
        self._last_bbo: dict[str, tuple[Any, Any]] = {}
        self._closing = False
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

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """URLs and the ccxt constructor options (JSON-serializable) for this emulator.

        ``rest_url`` serves ``/fapi/...`` and the spot ``/api/...`` catalog; ``ws_url`` is the
        stream base (``<ws_url>/stream`` combined market streams, ``<ws_url>/ws/<listenKey>``
        user data). ``ccxt`` works unchanged with ``ccxt.async_support.aster(cfg)`` and
        ``ccxt.pro.aster(cfg)``; ccxt's client-side throttle is off (the emulator has no rate limit)."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}/fstream"
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "privateKey": SIM_PRIVATE_KEY,
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {"defaultType": "swap", "builderFee": False,
                            "fetchOpenOrders": {"warnIfNoSymbol": False}},
                "urls": {"api": {
                    "fapiPublic": f"{rest}/fapi",
                    "fapiPrivate": f"{rest}/fapi",
                    "sapiPublic": f"{rest}/api",
                    "sapiPrivate": f"{rest}/api",
                    "ws": {"public": {"swap": f"{ws}/stream", "spot": f"{ws}/stream"},
                           "private": {"swap": f"{ws}/ws", "spot": f"{ws}/ws"}},
                }},
            },
        }

    async def close(self) -> None:
        """Stop listening to the venue and close every WebSocket."""
        self._closing = True
        self._unsubscribe()
        if self._pump_task is not None:
            self._pump_task.cancel()
            try:
                await self._pump_task
            except asyncio.CancelledError:
                pass
            self._pump_task = None
        socks = list(self._market_socks) + [s for group in self._user_socks.values() for s in group]
        for s in socks:
            await s.ws.close()

    # -- app --------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        public: dict[str, Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]] = {
            "ping": self._ping, "time": self._time, "exchangeInfo": self._exchange_info,
            "depth": self._depth, "ticker/bookTicker": self._book_ticker, "ticker/24hr": self._ticker_24h,
            "ticker/price": self._ticker_price, "premiumIndex": self._premium_index,
            "fundingInfo": self._funding_info, "fundingRate": self._funding_rate_history,
            "openInterest": self._open_interest,
        }
        for path, fn in public.items():
            for ver in ("v1", "v3"):
                r.add_get(f"/fapi/{ver}/{path}", self._public(fn))
        r.add_get("/api/v3/exchangeInfo", self._public(self._spot_exchange_info))
        r.add_get("/api/v1/exchangeInfo", self._public(self._spot_exchange_info))
        r.add_get("/api/v3/time", self._public(self._time))
        r.add_get("/api/v3/ping", self._public(self._ping))
        private = [
            ("POST", "order", self._new_order), ("DELETE", "order", self._cancel_order),
            ("GET", "order", self._query_order), ("GET", "openOrders", self._open_orders),
            ("DELETE", "allOpenOrders", self._cancel_all), ("GET", "positionRisk", self._position_risk),
            ("GET", "balance", self._balance), ("GET", "account", self._account),
            ("GET", "accountWithJoinMargin", self._account), ("POST", "leverage", self._set_leverage),
            ("GET", "leverageBracket", self._leverage_bracket), ("GET", "income", self._income),
            ("GET", "userTrades", self._user_trades), ("GET", "commissionRate", self._commission_rate),
            ("POST", "listenKey", self._listen_key_new), ("PUT", "listenKey", self._listen_key_keep),
            ("DELETE", "listenKey", self._listen_key_close), ("GET", "builder", self._builders),
            ("POST", "approveBuilder", self._approve_builder), ("POST", "noop", self._noop),
        ]
        for method, path, handler in private:
            r.add_route(method, f"/fapi/v3/{path}", self._private(handler, eip712=path != "approveBuilder"))
        for prefix in ("/fstream", ""):
            r.add_get(f"{prefix}/stream", self._ws_combined)
            r.add_get(f"{prefix}/ws", self._ws_combined)
            r.add_get(prefix + "/ws/{name}", self._ws_named)
        return app

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

    @staticmethod
    def _px(m: MarketSpec, x: float) -> str:
        return f"{x:.{m.price_decimals}f}"

    @staticmethod
    def _qty(m: MarketSpec, x: float) -> str:
        return f"{x:.{m.size_decimals}f}"

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

    # -- public REST -------------------------------------------------------------------------------
    async def _ping(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return _json({})

    async def _time(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return _json({"serverTime": now_ms()})

    async def _spot_exchange_info(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return _json({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "exchangeFilters": [],
                      "assets": [], "symbols": []})

    async def _exchange_info(self, request: web.Request, params: dict[str, str]) -> web.Response:
        rows = []
        for sym, m in self.venue.markets.items():
            tick, lot = str(m.tick_size), str(m.lot_size)
            rows.append({
                "symbol": self.dex_symbol(sym), "pair": self.dex_symbol(sym), "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1598252400000,
                "status": "TRADING" if m.active else "SETTLING",
                "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
                "baseAsset": m.exchange_base, "quoteAsset": DEFAULT_QUOTE, "marginAsset": DEFAULT_QUOTE,
                "pricePrecision": m.price_decimals, "quantityPrecision": m.size_decimals,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "triggerProtect": "0.0500", "liquidationFee": "0.010000", "marketTakeBound": "0.05",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "10000000", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": str(m.min_size), "maxQty": "100000000", "stepSize": lot},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": str(m.min_size), "maxQty": "100000000", "stepSize": lot},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 100},
                    {"filterType": "MIN_NOTIONAL", "notional": str(m.min_notional)},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.1500", "multiplierDown": "0.8500",
                     "multiplierDecimal": 4},
                ],
                "orderTypes": ["LIMIT", "MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "HIDDEN"],
            })
        return _json({
            "timezone": "UTC", "serverTime": now_ms(), "exchangeFilters": [],
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "assets": [{"asset": DEFAULT_QUOTE, "marginAvailable": True, "autoAssetExchange": 0}],
            "symbols": rows,
        })

    async def _depth(self, request: web.Request, params: dict[str, str]) -> web.Response:
        sym = self._symbol(params)
        assert sym is not None
        limit = _parse_num(params, "limit", int, required=False) or 500
        if limit not in DEPTH_LIMITS:
            raise AsterApiError(400, -4021, f"Invalid depth limit: {limit}. Valid limits: {list(DEPTH_LIMITS)}.")
        m = self.venue.markets[sym]
        bids, asks = self.venue.book(sym, limit)
        ts = now_ms()
        return _json({"lastUpdateId": self.venue.sequence(sym), "E": ts, "T": ts,
                      "bids": self._levels(m, bids), "asks": self._levels(m, asks)})

    def _bbo_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        bid, ask = self.venue.bbo(sym)
        return {
            "symbol": self.dex_symbol(sym),
            "bidPrice": self._px(m, bid[0]) if bid else self._px(m, 0.0), "bidQty": self._qty(m, bid[1]) if bid else "0.0",
            "askPrice": self._px(m, ask[0]) if ask else self._px(m, 0.0), "askQty": self._qty(m, ask[1]) if ask else "0.0",
            "time": now_ms(), "lastUpdateId": self.venue.sequence(sym),
        }

    def _one_or_all(self, params: dict[str, str], row: Callable[[str], dict[str, Any]]) -> web.Response:
        sym = self._symbol(params, required=False)
        if sym is not None:
            return _json(row(sym))
        return _json([row(s) for s in self.venue.markets])

    async def _book_ticker(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return self._one_or_all(params, self._bbo_row)

    def _ticker_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        mark = self.venue.mark_price(sym)
        ts = now_ms()
        vol_base = m.volume_24h_usd / mark if mark > 0 else 0.0
        return {
            "symbol": self.dex_symbol(sym), "priceChange": "0", "priceChangePercent": "0.000",
            "weightedAvgPrice": self._px(m, mark), "lastPrice": self._px(m, mark), "lastQty": self._qty(m, m.lot),
            "openPrice": self._px(m, mark), "highPrice": self._px(m, mark), "lowPrice": self._px(m, mark),
            "volume": self._qty(m, vol_base), "quoteVolume": f"{m.volume_24h_usd:.2f}",
            "openTime": ts - 86_400_000, "closeTime": ts, "firstId": 1, "lastId": 1, "count": 1,
        }

    async def _ticker_24h(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return self._one_or_all(params, self._ticker_row)

    async def _ticker_price(self, request: web.Request, params: dict[str, str]) -> web.Response:
        def row(sym: str) -> dict[str, Any]:
            m = self.venue.markets[sym]
            return {"symbol": self.dex_symbol(sym), "price": self._px(m, self.venue.mark_price(sym)), "time": now_ms()}
        return self._one_or_all(params, row)

    def _premium_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        index = self.venue.index_price(sym)
        return {
            "symbol": self.dex_symbol(sym), "markPrice": f"{self.venue.mark_price(sym):.8f}",
            "indexPrice": f"{index:.8f}", "estimatedSettlePrice": f"{index:.8f}",
            "lastFundingRate": f"{self.venue.funding_rate(sym):.8f}",
            "interestRate": f"{0.0001 * m.funding_interval_hours / 8:.8f}",
            "nextFundingTime": self.venue.next_funding_ms(sym), "time": now_ms(),
        }

    async def _premium_index(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return self._one_or_all(params, self._premium_row)

    async def _funding_info(self, request: web.Request, params: dict[str, str]) -> web.Response:
        sym = self._symbol(params, required=False)
        rows = []
        for s, m in self.venue.markets.items():
            if (sym is None or s == sym) and s not in self.unlisted_funding_info:
                rows.append({"symbol": self.dex_symbol(s), "interestRate": f"{0.0001 * m.funding_interval_hours / 8:.8f}",
                             "time": now_ms(), "fundingIntervalHours": self._interval_hours(m),
                             "fundingFeeCap": FUNDING_CAP, "fundingFeeFloor": -FUNDING_CAP})
        return _json(rows)

    async def _funding_rate_history(self, request: web.Request, params: dict[str, str]) -> web.Response:
        """Settled rates (the venue's generated past, then live settlements), ascending: from
        ``startTime`` the first ``limit`` (<= 1000, default 100) up to ``endTime``, without it the
        last ``limit`` (protocol doc §3.6). Rows carry ``markPrice`` as Binance's newer rows do."""
        sym = self._symbol(params, required=False)
        start = _parse_num(params, "startTime", int, required=False)
        end = _parse_num(params, "endTime", int, required=False)
        limit = min(_parse_num(params, "limit", int, required=False) or 100, 1000)
        rows: list[tuple[int, str, float, float]] = []
        for s in ([sym] if sym is not None else list(self.venue.markets)):
            path = self.venue.funding_history(s)
            window = path.window(start, end)
            window = window[:limit] if start is not None else window[-limit:]
            rows.extend((path.times_ms[i], s, path.rates[i], path.marks[i]) for i in window)
        rows.sort(key=lambda r: r[0])
        rows = rows[:limit] if start is not None else rows[-limit:]
        return _json([{"symbol": self.dex_symbol(s), "fundingRate": f"{rate:.8f}", "fundingTime": ts,
                       "markPrice": self._px(self.venue.markets[s], mark)} for ts, s, rate, mark in rows])

    async def _open_interest(self, request: web.Request, params: dict[str, str]) -> web.Response:
        sym = self._symbol(params)
        assert sym is not None
        m = self.venue.markets[sym]
        mark = self.venue.mark_price(sym)
        oi = m.open_interest_usd / mark if mark > 0 else 0.0
        return _json({"symbol": self.dex_symbol(sym), "openInterest": self._qty(m, oi), "time": now_ms()})

    # -- private REST ------------------------------------------------------------------------------
    async def _new_order(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        sym = self._symbol(params)
        assert sym is not None
        m = self.venue.markets[sym]
        side = params.get("side", "").upper()
        if not side:
            raise _missing("side")
        if side not in ("BUY", "SELL"):
            raise AsterApiError(400, -1117, "Invalid side.")
        otype = params.get("type", "").upper()
        if not otype:
            raise _missing("type")
        if otype not in ("LIMIT", "MARKET", "STOP_MARKET"):
            raise AsterApiError(400, -1116, "Invalid orderType.")
        if params.get("positionSide", "BOTH").upper() != "BOTH":
            raise AsterApiError(400, -4061, "Order's position side does not match user's setting.")
        if otype == "STOP_MARKET":
            return self._new_stop_market(account, sym, side.lower(), params)
        qty = _parse_num(params, "quantity", float)
        assert qty is not None
        reduce_only = _parse_bool(params, "reduceOnly")
        price = _parse_num(params, "price", float) if otype == "LIMIT" else None
        tif = "gtc"
        if otype == "LIMIT":
            raw_tif = params.get("timeInForce", "GTC").upper()
            if raw_tif not in _TIF_IN:
                raise AsterApiError(400, -1115, "Invalid timeInForce.")
            tif = _TIF_IN[raw_tif]
        client_id = params.get("newClientOrderId") or None
        if client_id is not None and not re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", client_id):
            raise AsterApiError(400, -4015, "Client order id is not valid.")
        if qty <= 0:
            raise AsterApiError(400, -4003, "Quantity less than or equal to zero.")
        if not _on_grid(qty, m.lot):
            raise AsterApiError(400, -4023, "Quantity not increased by step size.")
        if qty < float(m.min_size) - 1e-12:
            raise AsterApiError(400, -4004, "Quantity less than min quantity.")
        if price is not None:
            if price <= 0:
                raise AsterApiError(400, -4001, "Price less than 0.")
            if not _on_grid(price, m.tick):
                raise AsterApiError(400, -4014, "Price not increased by tick size.")
        ref = price if price is not None else self.venue.mark_price(sym)
        if not reduce_only and qty * ref < float(m.min_notional) - 1e-9:
            raise AsterApiError(400, -4164, f"Order's notional must be no smaller than {m.min_notional} (unless you choose reduce only).")
        try:
            order = self.venue.place_order(account, sym, side.lower(), qty, order_type=otype.lower(), price=price,
                                           tif=tif, reduce_only=reduce_only, client_id=client_id)
        except SimError as exc:
            raise self._sim_error(exc, "order") from None
        return self._order_json(order)

    def _new_stop_market(self, account: str, sym: str, side: str, params: dict[str, str]) -> dict[str, Any]:
        """``type=STOP_MARKET`` (protocol §5): ``stopPrice`` required, ``workingType``
        ``MARK_PRICE``/``CONTRACT_PRICE`` (default), ``reduceOnly`` or ``closePosition`` (not both;
        ``closePosition`` takes no ``quantity``). A stop already reached answers -2021."""
        m = self.venue.markets[sym]
        stop = _parse_num(params, "stopPrice", float)
        working = params.get("workingType", "CONTRACT_PRICE").upper()
        if working not in _WORKING_TYPE:
            raise AsterApiError(400, -1116, "Invalid workingType.")
        close_position = _parse_bool(params, "closePosition")
        reduce_only = _parse_bool(params, "reduceOnly")
        if close_position and reduce_only:
            raise AsterApiError(400, -1106, "Parameter 'reduceonly' sent when not required.")
        if close_position and "quantity" in params:
            raise AsterApiError(400, -1106, "Parameter 'quantity' sent when not required.")
        qty = 0.0 if close_position else _parse_num(params, "quantity", float)
        client_id = params.get("newClientOrderId") or None
        if client_id is not None and not re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", client_id):
            raise AsterApiError(400, -4015, "Client order id is not valid.")
        if not close_position:
            if qty <= 0:
                raise AsterApiError(400, -4003, "Quantity less than or equal to zero.")
            if not _on_grid(qty, m.lot):
                raise AsterApiError(400, -4023, "Quantity not increased by step size.")
        if stop <= 0 or not _on_grid(stop, m.tick):
            raise AsterApiError(400, -4014, "Price not increased by tick size.")
        try:
            order = self.venue.conditional.place(account, sym, side, qty, stop, trigger_by=_WORKING_TYPE[working],
                                                 reduce_only=reduce_only, close_position=close_position,
                                                 client_id=client_id)
        except SimError as exc:
            if exc.kind == "would_trigger":
                raise AsterApiError(400, -2021, "Order would immediately trigger.") from None
            raise self._sim_error(exc, "order") from None
        return self._order_json(order)

    def _find(self, account: str, params: dict[str, str], op: str) -> Order:
        sym = self._symbol(params)
        oid = _parse_num(params, "orderId", int, required=False)
        cid = params.get("origClientOrderId") or None
        if oid is None and cid is None:
            raise AsterApiError(400, -1102, "Either orderId or origClientOrderId must be sent.")
        order = self.venue.find_order(account, sym, oid, cid)
        if order is None:
            raise self._sim_error(SimError("not_found", "unknown order"), op)
        return order

    async def _cancel_order(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        order = self._find(account, params, "cancel")
        try:
            order = self.venue.cancel_order(account, order.symbol, order.id)
        except SimError as exc:
            raise self._sim_error(exc, "cancel") from None
        return self._order_json(order)

    async def _query_order(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        return self._order_json(self._find(account, params, "query"))

    async def _open_orders(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        sym = self._symbol(params, required=False)
        return [self._order_json(o) for o in self.venue.open_orders(account, sym)]

    async def _cancel_all(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        self.venue.cancel_all(account, self._symbol(params))
        return {"code": "200", "msg": "The operation of cancel all open order is done."}

    def _position_row(self, account: str, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        pos = self.venue.account(account).positions.get(sym)
        qty = pos.qty if pos is not None else 0.0
        entry = pos.entry_price if pos is not None and qty else 0.0
        mark = self.venue.mark_price(sym)
        lev = self.venue.leverage(account, sym)
        return {
            "symbol": self.dex_symbol(sym), "positionAmt": self._qty(m, qty), "entryPrice": f"{entry:.8f}",
            "markPrice": f"{mark:.8f}", "unRealizedProfit": f"{(mark - entry) * qty if qty else 0.0:.8f}",
            "liquidationPrice": f"{self.venue.liquidation_price(account, sym):.8f}", "leverage": str(lev),
            "maxNotionalValue": "100000000", "marginType": "cross", "isolatedMargin": "0.00000000",
            "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": f"{qty * mark:.8f}",
            "isolatedWallet": "0", "updateTime": now_ms() if qty else 0,
        }

    async def _position_risk(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        sym = self._symbol(params, required=False)
        return [self._position_row(account, s) for s in self.venue.markets if sym is None or s == sym]

    def _balance_row(self, account: str) -> dict[str, Any]:
        acct = self.venue.account(account)
        upnl = self.venue.unrealized_pnl(account)
        avail = self.venue.available_balance(account)
        return {"accountAlias": "SimAcct", "asset": DEFAULT_QUOTE, "balance": f"{acct.balance:.8f}",
                "crossWalletBalance": f"{acct.balance:.8f}", "crossUnPnl": f"{upnl:.8f}",
                "availableBalance": f"{avail:.8f}", "maxWithdrawAmount": f"{avail:.8f}",
                "marginAvailable": True, "updateTime": now_ms()}

    async def _balance(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [self._balance_row(account)]

    async def _account(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        acct = self.venue.account(account)
        upnl = self.venue.unrealized_pnl(account)
        im = self.venue.initial_margin(account)
        avail = self.venue.available_balance(account)
        positions = []
        for sym in self.venue.markets:
            row = self._position_row(account, sym)
            positions.append({"symbol": row["symbol"], "positionAmt": row["positionAmt"], "entryPrice": row["entryPrice"],
                              "unrealizedProfit": row["unRealizedProfit"], "leverage": row["leverage"],
                              "isolated": False, "positionSide": "BOTH", "notional": row["notional"],
                              "initialMargin": "0", "maintMargin": "0", "updateTime": row["updateTime"]})
        b = f"{acct.balance:.8f}"
        return {
            "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": now_ms(),
            "totalWalletBalance": b, "totalUnrealizedProfit": f"{upnl:.8f}",
            "totalMarginBalance": f"{acct.balance + upnl:.8f}", "totalInitialMargin": f"{im:.8f}",
            "totalMaintMargin": "0", "availableBalance": f"{avail:.8f}", "maxWithdrawAmount": f"{avail:.8f}",
            "assets": [{"asset": DEFAULT_QUOTE, "walletBalance": b, "unrealizedProfit": f"{upnl:.8f}",
                        "marginBalance": f"{acct.balance + upnl:.8f}", "availableBalance": f"{avail:.8f}",
                        "initialMargin": f"{im:.8f}", "maintMargin": "0", "crossWalletBalance": b,
                        "crossUnPnl": f"{upnl:.8f}", "maxWithdrawAmount": f"{avail:.8f}", "marginAvailable": True}],
            "positions": positions,
        }

    async def _set_leverage(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        sym = self._symbol(params)
        assert sym is not None
        lev = _parse_num(params, "leverage", int)
        assert lev is not None
        try:
            lev = self.venue.set_leverage(account, sym, lev)
        except SimError:
            raise AsterApiError(400, -4028, f"Leverage {lev} is not valid") from None
        return {"leverage": lev, "maxNotionalValue": "100000000", "symbol": self.dex_symbol(sym)}

    def _bracket_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        return {"symbol": self.dex_symbol(sym), "brackets": [
            {"bracket": 1, "initialLeverage": m.max_leverage, "notionalCap": 100_000_000, "notionalFloor": 0,
             "maintMarginRatio": round(0.5 / m.max_leverage, 6), "cum": 0}]}

    async def _leverage_bracket(self, account: str, params: dict[str, str]) -> Any:
        sym = self._symbol(params, required=False)
        if sym is not None:
            return self._bracket_row(sym)
        return [self._bracket_row(s) for s in self.venue.markets]

    async def _income(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        sym = self._symbol(params, required=False)
        kind = params.get("incomeType") or None
        start = _parse_num(params, "startTime", int, required=False)
        end = _parse_num(params, "endTime", int, required=False)
        limit = min(_parse_num(params, "limit", int, required=False) or 100, 1000)
        acct = self.venue.account(account)
        rows: list[dict[str, Any]] = []
        for p in acct.fundings:
            rows.append({"symbol": self.dex_symbol(p.symbol), "incomeType": "FUNDING_FEE", "income": f"{p.amount:.8f}",
                         "asset": DEFAULT_QUOTE, "info": "FUNDING_FEE", "time": p.ts, "tranId": str(p.ts), "tradeId": ""})
        for f in acct.fills:
            rows.append({"symbol": self.dex_symbol(f.symbol), "incomeType": "COMMISSION", "income": f"{-f.fee:.8f}",
                         "asset": DEFAULT_QUOTE, "info": "COMMISSION", "time": f.ts, "tranId": str(f.trade_id),
                         "tradeId": str(f.trade_id)})
            if f.realized_pnl:
                rows.append({"symbol": self.dex_symbol(f.symbol), "incomeType": "REALIZED_PNL",
                             "income": f"{f.realized_pnl:.8f}", "asset": DEFAULT_QUOTE, "info": "REALIZED_PNL",
                             "time": f.ts, "tranId": str(f.trade_id), "tradeId": str(f.trade_id)})
        rows = [r for r in rows
                if (sym is None or r["symbol"] == self.dex_symbol(sym)) and (kind is None or r["incomeType"] == kind)
                and (start is None or r["time"] >= start) and (end is None or r["time"] <= end)]
        rows.sort(key=lambda r: r["time"])
        return rows[-limit:]

    async def _user_trades(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        sym = self._symbol(params)
        assert sym is not None
        m = self.venue.markets[sym]
        out = []
        for f in self.venue.account(account).fills:
            if f.symbol != sym:
                continue
            out.append({"symbol": self.dex_symbol(sym), "id": f.trade_id, "orderId": f.order_id,
                        "side": f.side.upper(), "price": self._px(m, f.price), "qty": self._qty(m, f.qty),
                        "quoteQty": f"{f.qty * f.price:.8f}", "realizedPnl": f"{f.realized_pnl:.8f}",
                        "commission": f"{-f.fee:.8f}", "commissionAsset": DEFAULT_QUOTE,
                        "buyer": f.side == "buy", "maker": f.maker, "positionSide": "BOTH", "time": f.ts})
        limit = min(_parse_num(params, "limit", int, required=False) or 500, 1000)
        return out[-limit:]

    async def _commission_rate(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        sym = self._symbol(params)
        assert sym is not None
        m = self.venue.markets[sym]
        return {"symbol": self.dex_symbol(sym), "makerCommissionRate": f"{m.maker_fee:.6f}",
                "takerCommissionRate": f"{m.taker_fee:.6f}"}

    async def _listen_key_new(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        for key, acct in self._listen_keys.items():
            if acct == account:
                return {"listenKey": key}
        key = secrets.token_hex(32)
        self._listen_keys[key] = account
        return {"listenKey": key}

    async def _listen_key_keep(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        if account not in self._listen_keys.values():
            raise AsterApiError(400, -1125, "This listenKey does not exist.")
        return {}

    async def _listen_key_close(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        for key in [k for k, a in self._listen_keys.items() if a == account]:
            del self._listen_keys[key]
        for s in list(self._user_socks.pop(account, ())):
            await s.ws.close()
        return {}

    async def _builders(self, account: str, params: dict[str, str]) -> list[Any]:
        return []

    async def _approve_builder(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        return {"code": 200, "msg": "success"}

    async def _noop(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        return {"code": 200, "msg": "success"}

    # -- WebSocket ---------------------------------------------------------------------------------
    def _parse_stream(self, name: str) -> _Stream | None:
        mt = _STREAM_RE.match(name)
        if mt is None:
            return None
        sym = self._by_dex.get(mt.group("sym").upper())
        if sym is None:
            return None
        if mt.group("depth"):
            ms = int(mt.group("dms") or 250)
            n = mt.group("n")
            if n is None:
                return _Stream(name, sym, "diff")
            if int(n) not in PARTIAL_LEVELS:
                return None
            return _Stream(name, sym, "partial", levels=int(n), every_ms=ms)
        if mt.group("bbo"):
            return _Stream(name, sym, "bbo")
        return _Stream(name, sym, "mark", every_ms=1000 if mt.group("mms") else 3000)

    def _ensure_pump(self) -> None:
        if self._pump_task is None and not self._closing:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump(), name="aster-emulator-pump")

    async def _serve_market(self, request: web.Request, combined: bool, initial: list[str]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        sock = _Socket(ws, combined)
        sock.start()
        self._market_socks.add(sock)
        self._ensure_pump()
        try:
            if initial:
                self._subscribe(sock, initial, None, ack=False)
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._control(sock, msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            self._market_socks.discard(sock)
            if sock.task is not None:
                sock.task.cancel()
        return ws

    async def _ws_combined(self, request: web.Request) -> web.WebSocketResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._serve_market(request, request.path.endswith("/stream"), streams)

    async def _ws_named(self, request: web.Request) -> web.WebSocketResponse:
        name = request.match_info["name"]
        account = self._listen_keys.get(name)
        if account is None:
            return await self._serve_market(request, False, [name])
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = _Socket(ws, False)
        sock.start()
        self._user_socks.setdefault(account, set()).add(sock)
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            self._user_socks.get(account, set()).discard(sock)
            if sock.task is not None:
                sock.task.cancel()
        return ws

    def _control(self, sock: _Socket, text: str) -> None:
        """Handle a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY frame."""
        try:
            req = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            sock.push(_encode({"code": 3, "msg": f"Invalid JSON: {exc}"}))
            return
        if not isinstance(req, dict) or "method" not in req:
            sock.push(_encode({"code": 2, "msg": "Invalid request: missing field 'method'"}))
            return
        rid = req.get("id")
        if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool) or rid < 0):
            sock.push(_encode({"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}))
            return
        method, params = req.get("method"), req.get("params") or []
        if not isinstance(params, list):
            sock.push(_encode({"code": 2, "msg": "Invalid request: 'params' must be an array", "id": rid}))
            return
        if method == "SUBSCRIBE":
            self._subscribe(sock, params, rid)
        elif method == "UNSUBSCRIBE":
            for name in params:
                sock.streams.pop(str(name), None)
            sock.push(_encode({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            sock.push(_encode({"result": list(sock.streams), "id": rid}))
        elif method == "SET_PROPERTY":
            if len(params) != 2 or params[0] != "combined":
                sock.push(_encode({"code": 0, "msg": "Unknown property", "id": rid}))
            elif not isinstance(params[1], bool):
                sock.push(_encode({"code": 1, "msg": "Invalid value type: expected Boolean", "id": rid}))
            else:
                sock.combined = params[1]
                sock.push(_encode({"result": None, "id": rid}))
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                sock.push(_encode({"code": 0, "msg": "Unknown property", "id": rid}))
            else:
                sock.push(_encode({"result": sock.combined, "id": rid}))
        else:
            sock.push(_encode({"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": rid}))

    def _subscribe(self, sock: _Socket, names: list[Any], rid: int | None, *, ack: bool = True) -> None:
        parsed = [self._parse_stream(str(n)) for n in names]
        bad = [str(n) for n, p in zip(names, parsed) if p is None]
        if bad:
            sock.push(_encode({"code": 2, "msg": f"Invalid request: invalid stream name(s) {bad}", "id": rid}))
            return
        if ack:
            sock.push(_encode({"result": None, "id": rid}))
        now = now_ms()
        for st in parsed:
            assert st is not None
            sock.streams[st.name] = st
            if st.kind == "partial":  # first snapshot right away (ccxt's watcher resolves on it)
                st.due_ms = now + st.every_ms
                self._send(sock, st, self._partial_payload(st.symbol, st.levels))
            elif st.kind == "mark":
                st.due_ms = now + st.every_ms
                self._send(sock, st, self._mark_payload(st.symbol))

    def _send(self, sock: _Socket, st: _Stream, payload: bytes) -> None:
        frame = sock.frame(st.name, payload)
        if self.venue.faults.take("malformed", st.symbol):
            frame = frame[: len(frame) // 2]  # truncated mid-frame: not valid JSON
        sock.push(frame)

    def _partial_payload(self, sym: str, levels: int) -> bytes:
        m = self.venue.markets[sym]
        bids, asks = self.venue.book(sym, levels)
        prev, seq = self._last_seq.get(sym, (self.venue.sequence(sym), self.venue.sequence(sym)))
        ts = now_ms()
        return _encode({"e": "depthUpdate", "E": ts, "T": ts, "s": self.dex_symbol(sym), "U": prev + 1, "u": seq,
                        "pu": prev, "b": self._levels(m, bids), "a": self._levels(m, asks)})

    def _mark_payload(self, sym: str) -> bytes:
        index = self.venue.index_price(sym)
        return _encode({"e": "markPriceUpdate", "E": now_ms(), "s": self.dex_symbol(sym),
                        "p": f"{self.venue.mark_price(sym):.8f}", "i": f"{index:.8f}", "P": f"{index:.8f}",
                        "r": f"{self.venue.funding_rate(sym):.8f}", "T": self.venue.next_funding_ms(sym)})

    async def _pump(self) -> None:
        """Every 50 ms: periodic streams that are due (partial depth, mark price); ``drop`` faults."""
        while True:
            await asyncio.sleep(0.05)
            try:
                if self.venue.faults.take("drop"):
                    for s in list(self._market_socks):
                        await s.ws.close()
                if self.venue.faults.take("stall"):
                    for s in list(self._market_socks):
                        s.stall(STALL_SECONDS)
                now = now_ms()
                cache: dict[tuple[str, str, int], bytes] = {}
                for sock in list(self._market_socks):
                    for st in list(sock.streams.values()):
                        if st.every_ms and now >= st.due_ms:
                            st.due_ms = now + st.every_ms
                            key = (st.kind, st.symbol, st.levels)
                            payload = cache.get(key)
                            if payload is None:
                                payload = cache[key] = (self._partial_payload(st.symbol, st.levels) if st.kind == "partial"
                                                        else self._mark_payload(st.symbol))
                            self._send(sock, st, payload)
            except Exception:  # noqa: BLE001 - keep streaming
                log.exception("%s emulator: stream pump failed", EXCHANGE)

    # -- engine events -----------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, BookEvent):
            self._on_book(ev)
        elif isinstance(ev, OrderEvent):
            self._on_order(ev)
        elif isinstance(ev, FundingEvent):
            self._on_funding(ev)

    def _on_book(self, ev: BookEvent) -> None:
        self._last_seq[ev.symbol] = (ev.prev_seq, ev.seq)
        if not self._market_socks:
            return
        m = self.venue.markets[ev.symbol]
        diff: bytes | None = None
        bbo_payload: bytes | None = None
        bbo = self.venue.bbo(ev.symbol)
        bbo_changed = self._last_bbo.get(ev.symbol) != bbo
        if bbo_changed:
            self._last_bbo[ev.symbol] = bbo
        for sock in list(self._market_socks):
            for st in sock.streams.values():
                if st.symbol != ev.symbol:
                    continue
                if st.kind == "diff":
                    if diff is None:
                        diff = _encode({"e": "depthUpdate", "E": ev.ts, "T": ev.ts, "s": self.dex_symbol(ev.symbol),
                                        "U": ev.prev_seq + 1, "u": ev.seq, "pu": ev.prev_seq,
                                        "b": self._levels(m, ev.bids), "a": self._levels(m, ev.asks)})
                    self._send(sock, st, diff)
                elif st.kind == "bbo" and bbo_changed:
                    if bbo_payload is None:
                        bid, ask = bbo
                        bbo_payload = _encode({
                            "e": "bookTicker", "u": ev.seq, "E": ev.ts, "T": ev.ts, "s": self.dex_symbol(ev.symbol),
                            "b": self._px(m, bid[0] if bid else 0.0), "B": self._qty(m, bid[1] if bid else 0.0),
                            "a": self._px(m, ask[0] if ask else 0.0), "A": self._qty(m, ask[1] if ask else 0.0)})
                    self._send(sock, st, bbo_payload)

    def _push_user(self, account: str, payload: dict[str, Any], symbol: str | None = None, *, fill: bool = False) -> None:
        """Send a user-data event to the account's sockets; a fill frame is subject to the
        ``dup`` / ``user_drop`` faults (:meth:`QueuedSocket.push_private`)."""
        socks = self._user_socks.get(account)
        if socks:
            data = _encode(payload)
            for s in list(socks):
                s.push_private(data, self.venue.faults, symbol, fill=fill)

    def _account_update(self, account: str, reason: str, symbol: str | None, change: float) -> dict[str, Any]:
        acct = self.venue.account(account)
        positions = []
        if symbol is not None:
            m = self.venue.markets[symbol]
            pos = acct.position(symbol)
            mark = self.venue.mark_price(symbol)
            positions.append({"s": self.dex_symbol(symbol), "pa": self._qty(m, pos.qty), "ep": f"{pos.entry_price:.8f}",
                              "cr": f"{pos.realized_pnl:.8f}", "up": f"{(mark - pos.entry_price) * pos.qty:.8f}",
                              "mt": "cross", "iw": "0", "ps": "BOTH", "ma": DEFAULT_QUOTE})
        ts = now_ms()
        return {"e": "ACCOUNT_UPDATE", "E": ts, "T": ts, "a": {
            "m": reason, "B": [{"a": DEFAULT_QUOTE, "wb": f"{acct.balance:.8f}", "cw": f"{acct.balance:.8f}",
                                "bc": f"{change:.8f}"}], "P": positions}}

    def _on_order(self, ev: OrderEvent) -> None:
        if not self._user_socks.get(ev.account):
            return
        o, f = ev.order, ev.fill
        m = self.venue.markets[o.symbol]
        status = _STATUS.get(o.status, "NEW")
        exec_type = "TRADE" if f is not None else ("NEW" if status == "NEW" else status)
        o_json: dict[str, Any] = {
            "s": self.dex_symbol(o.symbol), "c": o.client_id or f"sim-{o.id}", "S": o.side.upper(),
            "o": self._type(o), "f": _TIF_OUT.get(o.tif, "GTC"), "q": self._qty(m, o.qty),
            "p": self._px(m, o.price) if o.price is not None else "0", "ap": self._px(m, o.avg_price),
            "sp": self._px(m, o.trigger_price) if o.trigger_price else "0",
            "x": exec_type, "X": status, "i": o.id, "l": self._qty(m, f.qty if f else 0.0),
            "z": self._qty(m, o.filled), "L": self._px(m, f.price if f else 0.0), "T": ev.ts,
            "t": f.trade_id if f else 0, "b": "0", "a": "0", "m": bool(f.maker) if f else False, "R": o.reduce_only,
            "wt": _WORKING_OUT.get(o.trigger_by or "last", "CONTRACT_PRICE"), "ot": o.type.upper(), "ps": "BOTH",
            "cp": o.close_position,
            "rp": f"{f.realized_pnl:.8f}" if f else "0",
        }
        if f is not None:
            o_json["N"] = DEFAULT_QUOTE
            o_json["n"] = f"{f.fee:.8f}"
        if o.system is not None:  # the exchange closing the position: type LIQUIDATION (§6.2)
            o_json["o"] = o_json["ot"] = "LIQUIDATION"
            if f is not None and o.system == "liquidation":
                o_json["x"] = "CALCULATED"
        self._push_user(ev.account, {"e": "ORDER_TRADE_UPDATE", "E": ev.ts, "T": ev.ts, "o": o_json}, o.symbol,
                        fill=f is not None)
        if f is not None:
            self._push_user(ev.account, self._account_update(ev.account, "ORDER", o.symbol, f.realized_pnl - f.fee))

    def _on_funding(self, ev: FundingEvent) -> None:
        if self._user_socks.get(ev.account):
            self._push_user(ev.account, self._account_update(ev.account, "FUNDING_FEE", None, ev.payment.amount))
