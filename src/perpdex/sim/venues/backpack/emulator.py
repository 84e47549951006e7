"""Backpack's wire dialect over the venue engine: public and signed private REST plus the
WebSocket API, close enough that unmodified ``ccxt.async_support.backpack`` /
``ccxt.pro.backpack`` 4.5.90 and the official ``bpx-py`` SDK work against it with only URLs
and a key pair changed (see :meth:`BackpackEmulator.endpoints`).

Protocol source: docs/exchanges/backpack.md (docs.backpack.exchange; ccxt 4.5.90 §7).

* Symbols: canonical ``"BTC"`` <-> ``"BTC_USDC_PERP"``; quote and collateral USDC.
* Auth (§5.1): headers ``X-API-Key`` (base64 ED25519 public key), ``X-Signature``,
  ``X-Timestamp`` (ms), ``X-Window`` (ms, default 5000, max 60000). The signature is verified
  over ``instruction=<op>&<sorted k=v>&timestamp=<ts>&window=<w>`` (booleans lowercase; raw or
  URL-encoded values both accepted, as clients differ). Missing headers -> 401 ``UNAUTHORIZED``;
  bad signature -> 401 ``INVALID_SIGNATURE``; stale/future timestamp or window > 60000 -> 400
  ``INVALID_CLIENT_REQUEST``. The engine account id is the API public key.
* Errors: ``{"code": "<ENUM>", "message": ...}``; payloads that do not parse (bad JSON, unknown
  symbol or enum, non-numeric fields) get Backpack's plain-text 400 parse error. Engine errors
  map by kind: invalid -> 400 ``INVALID_ORDER``, margin -> 400 ``INSUFFICIENT_MARGIN``,
  not_found -> 404 ``RESOURCE_NOT_FOUND``, reduce_only -> 400 ``INVALID_ORDER``, rejected ->
  400 ``INVALID_ORDER``.
* Leverage is account-wide (``PATCH /api/v1/account {"leverageLimit"}``): the engine's
  per-market leverage becomes ``min(limit, market max)`` for every market.
* Faults (``venue.faults``): ``http429`` -> 429 ``TOO_MANY_REQUESTS``; ``delay`` -> the next REST
  answer waits :attr:`BackpackEmulator.fault_delay` s; ``malformed`` -> the next stream frame for
  that symbol is truncated; ``drop`` -> every socket is closed; ``reject`` -> the engine rejects
  the next order; ``gap`` comes from the engine (a book event whose ``prev_seq`` skips one: the
  frame's ``U`` != previous ``u`` + 1); ``dup`` / ``user_drop`` duplicate / lose (closing the
  socket) the next ``orderFill`` frame. Engine liquidations / ADL carry origin ``O``
  ``LIQUIDATION_AUTOCLOSE`` / ``ADL_AUTOCLOSE`` and a fills-history ``systemOrderType``.
* Streams (§4, §6): ``depth.<sym>`` (and the ``200ms``/``600ms``/``1000ms`` variants, sent
  unbatched) with ``U``/``u`` = engine sequence numbers, ``bookTicker.<sym>`` (current BBO on
  subscribe, then on change), ``markPrice.<sym>`` and ``ticker.<sym>`` (every second),
  ``openInterest.<sym>``; private ``account.orderUpdate[.<sym>]``,
  ``account.positionUpdate[.<sym>]`` (signed SUBSCRIBE), ``account.rfqUpdate`` /
  ``account.balanceUpdate`` accepted silently. Timestamps ``E``/``T`` in microseconds. Each
  socket has its own bounded queue and writer task; the engine never waits on a client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ....exchanges.backpack.symbols import PERP_SUFFIX, QUOTE, exchange_base
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
from .auth import DEFAULT_WINDOW_MS, MAX_WINDOW_MS, SIM_API_KEY, SIM_SECRET, signing_strings

log = logging.getLogger(__name__)

EXCHANGE = "backpack"
QUEUE_LIMIT = 5000
PING_INTERVAL = 60.0  # seconds: the server pings; no pong in time closes the socket (§4.2)
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_encode = msgspec.json.Encoder().encode

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


def _json(data: Any) -> web.Response:
    return web.Response(body=_encode(data), content_type="application/json")


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


class BackpackEmulator:
    """Serve one :class:`~perpdex.sim.engine.Venue` with Backpack's protocol (see module doc)."""

    fault_delay = 0.5  # seconds, for the injected ``delay`` fault

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self._dex = {s: exchange_base(s, m.multiplier) + PERP_SUFFIX for s, m in venue.markets.items()}
        self._by_dex = {d: s for s, d in self._dex.items()}  # "kBONK_USDC_PERP" -> "BONK"
        self._unsubscribe = venue.subscribe(self._on_event)
        self._socks: set[_Socket] = set()
        self._pump_task: asyncio.Task[None] | None = None
        self._last_bbo: dict[str, Any] = {}
        self._leverage_limit: dict[str, int] = {}
        self._closing = False

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

    @staticmethod
    def _px(m: MarketSpec, v: float) -> str:
        return f"{v:.{m.price_decimals}f}"

    @staticmethod
    def _qty(m: MarketSpec, v: float) -> str:
        return f"{v:.{m.size_decimals}f}"

    def leverage_limit(self, account: str) -> int:
        return self._leverage_limit.get(account, self.venue.default_leverage)

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """URLs, ccxt constructor options and perpdex credentials (all JSON-serializable).

        ``rest_url`` serves ``/api/v1/...`` and ``/wapi/v1/...``; ``ws_url`` is the one
        WebSocket endpoint (root path, public and private streams). ``ccxt`` works unchanged
        with ``ccxt.async_support.backpack(cfg)`` and ``ccxt.pro.backpack(cfg)``: ``apiKey`` =
        base64 ED25519 public key, ``secret`` = base64 seed (the doc's test-vector key pair),
        URL overrides, and ccxt's throttle off (the emulator has no rate limit). ``credentials`` are what
        :class:`~perpdex.exchanges.backpack.BackpackClient` takes (``api_key``, ``api_secret``)."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}"
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "apiKey": SIM_API_KEY,
                "secret": SIM_SECRET,
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {"recvWindow": str(DEFAULT_WINDOW_MS)},
                "urls": {"api": {"public": rest, "private": rest, "ws": {"public": ws, "private": ws}}},
            },
            "credentials": {"api_key": SIM_API_KEY, "api_secret": SIM_SECRET},
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
        for s in list(self._socks):
            await s.ws.close()

    def subscriptions(self) -> list[list[str]]:
        """The stream names subscribed on each open WebSocket (for inspection)."""
        return [sorted(s.streams) for s in self._socks]

    # -- app --------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        public: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/api/v1/status": self._status, "/api/v1/ping": self._ping, "/api/v1/time": self._time,
            "/api/v1/assets": self._assets, "/api/v1/markets": self._markets, "/api/v1/market": self._market,
            "/api/v1/securities": self._securities, "/api/v1/ticker": self._ticker, "/api/v1/tickers": self._tickers,
            "/api/v1/depth": self._depth, "/api/v1/markPrices": self._mark_prices,
            "/api/v1/openInterest": self._open_interest, "/api/v1/fundingRates": self._funding_rates,
        }
        for path, fn in public.items():
            r.add_get(path, fn)
        r.add_get("/api/v1/markets/{symbol}", self._market)
        private: list[tuple[str, str, Callable[[str, dict[str, Any]], Awaitable[Any]]]] = [
            ("GET", "/api/v1/account", self._account), ("PATCH", "/api/v1/account", self._account_update),
            ("GET", "/api/v1/capital", self._capital), ("GET", "/api/v1/capital/collateral", self._collateral),
            ("GET", "/api/v1/order", self._order_query), ("POST", "/api/v1/order", self._order_execute),
            ("DELETE", "/api/v1/order", self._order_cancel), ("GET", "/api/v1/orders", self._open_orders),
            ("DELETE", "/api/v1/orders", self._cancel_all), ("GET", "/api/v1/position", self._positions),
            ("GET", "/wapi/v1/history/orders", self._order_history), ("GET", "/wapi/v1/history/fills", self._fills),
            ("GET", "/wapi/v1/history/funding", self._funding_history_private),
        ]
        for method, path, handler in private:
            r.add_route(method, path, self._private(method, path, handler))
        r.add_get("/", self._ws)
        r.add_get("/ws", self._ws)
        r.add_get("/stream", self._ws)
        return app

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

    # -- public REST ------------------------------------------------------------------------------
    async def _status(self, request: web.Request) -> web.Response:
        return _json({"status": "Ok", "message": None})

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/plain")

    async def _time(self, request: web.Request) -> web.Response:
        return web.Response(text=str(now_ms()), content_type="text/plain")

    async def _assets(self, request: web.Request) -> web.Response:
        names = [QUOTE] + [exchange_base(s, m.multiplier) for s, m in self.venue.markets.items()]
        return _json([{"symbol": n, "displayName": n, "coingeckoId": None, "tokens": []} for n in names])

    async def _securities(self, request: web.Request) -> web.Response:
        return _json([])

    def _market_row(self, m: MarketSpec) -> dict[str, Any]:
        imf = 1.0 / m.max_leverage
        return {
            "symbol": self.dex_symbol(m.symbol), "baseSymbol": exchange_base(m.symbol, m.multiplier), "quoteSymbol": QUOTE, "marketType": "PERP",
            "createdAt": "2025-01-21T06:34:54.691858", "visible": True,
            "filters": {
                "price": {"tickSize": str(m.tick_size), "minPrice": str(m.tick_size), "maxPrice": None,
                          "maxMultiplier": "1.25", "minMultiplier": "0.75", "maxImpactMultiplier": "1.03",
                          "minImpactMultiplier": "0.97", "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                          "meanPremiumBand": {"tolerancePct": "0.05"}, "borrowEntryFeeMaxMultiplier": None,
                          "borrowEntryFeeMinMultiplier": None},
                "quantity": {"stepSize": str(m.lot_size), "minQuantity": str(m.min_size), "maxQuantity": None},
            },
            "fundingInterval": int(m.funding_interval_hours * 3_600_000),
            "fundingRateUpperBound": "100", "fundingRateLowerBound": "-100",
            "imfFunction": {"type": "sqrt", "base": f"{imf:.4f}".rstrip("0").rstrip("."), "factor": "0.0001275"},
            "mmfFunction": {"type": "sqrt", "base": f"{imf / 2:.4f}".rstrip("0").rstrip("."), "factor": "0.0000765"},
            "openInterestLimit": "0",
            "orderBookState": "Open" if m.active else "Closed",
        }

    async def _markets(self, request: web.Request) -> web.Response:
        types = request.query.getall("marketType", [])
        if types and "PERP" not in types:
            return _json([])
        return _json([self._market_row(m) for m in self.venue.markets.values()])

    async def _market(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.match_info.get("symbol") or request.query.get("symbol"), "GetMarket")
        assert sym is not None
        return _json(self._market_row(self.venue.markets[sym]))

    def _ticker_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        mark = self.venue.mark_price(sym)
        return {"symbol": self.dex_symbol(sym), "firstPrice": self._px(m, mark), "lastPrice": self._px(m, mark),
                "high": self._px(m, mark), "low": self._px(m, mark), "priceChange": "0", "priceChangePercent": "0",
                "volume": self._qty(m, m.volume_24h_usd / mark if mark > 0 else 0.0),
                "quoteVolume": f"{m.volume_24h_usd:.2f}", "trades": "1000"}

    async def _ticker(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.query.get("symbol"), "GetTicker")
        assert sym is not None
        return _json(self._ticker_row(sym))

    async def _tickers(self, request: web.Request) -> web.Response:
        return _json([self._ticker_row(s) for s in self.venue.markets])

    async def _depth(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.query.get("symbol"), "GetDepth")
        assert sym is not None
        limit_s = request.query.get("limit", "1000")
        if not limit_s.isdigit() or int(limit_s) not in DEPTH_LIMITS:
            raise _parse_error("DepthLimit", "Expect a valid enumeration value.", "GetDepth")
        m = self.venue.markets[sym]
        bids, asks = self.venue.book(sym, int(limit_s))
        # Backpack sorts both sides ascending by price (best bid last)
        return _json({"bids": [[self._px(m, p), self._qty(m, q)] for p, q in reversed(bids)],
                      "asks": [[self._px(m, p), self._qty(m, q)] for p, q in asks],
                      "lastUpdateId": str(self.venue.sequence(sym)), "timestamp": int(time.time() * 1_000_000)})

    def _mark_row(self, sym: str) -> dict[str, Any]:
        return {"symbol": self.dex_symbol(sym), "markPrice": f"{self.venue.mark_price(sym):.8f}",
                "indexPrice": f"{self.venue.index_price(sym):.8f}", "fundingRate": f"{self.venue.funding_rate(sym):.10f}",
                "nextFundingTimestamp": self.venue.next_funding_ms(sym)}

    async def _mark_prices(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.query.get("symbol"), "GetMarkPrices", required=False)
        return _json([self._mark_row(s) for s in ([sym] if sym else self.venue.markets)])

    def _oi_row(self, sym: str) -> dict[str, Any]:
        m = self.venue.markets[sym]
        mark = self.venue.mark_price(sym)
        return {"symbol": self.dex_symbol(sym), "openInterest": self._qty(m, m.open_interest_usd / mark if mark > 0 else 0.0),
                "timestamp": now_ms()}

    async def _open_interest(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.query.get("symbol"), "GetOpenInterest", required=False)
        return _json([self._oi_row(s) for s in ([sym] if sym else self.venue.markets)])

    @staticmethod
    def _paging(params: dict[str, Any], default: int, maximum: int) -> tuple[int, int]:
        try:
            limit = int(params.get("limit", default))
            offset = int(params.get("offset", 0))
        except (TypeError, ValueError):
            raise _parse_error("u64", "invalid integer", "limit/offset") from None
        if limit < 0 or offset < 0:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "limit and offset must not be negative")
        return min(limit, maximum), offset

    async def _funding_rates(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request.query.get("symbol"), "GetFundingRates")
        assert sym is not None
        limit, offset = self._paging(dict(request.query), 100, 1000)
        path = self.venue.funding_history(sym)
        n = len(path)
        newest_first = range(n - 1 - offset, max(n - 1 - offset - limit, -1), -1)  # protocol doc §3.6
        return _json([{"symbol": self.dex_symbol(sym), "fundingRate": f"{path.rates[i]:.10f}",
                       "intervalEndTimestamp": iso_ms(path.times_ms[i])} for i in newest_first])

    # -- private REST -----------------------------------------------------------------------------
    async def _account(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        mk = max((m.maker_fee for m in self.venue.markets.values()), default=0.0)
        tk = max((m.taker_fee for m in self.venue.markets.values()), default=0.0)
        return {"autoBorrowSettlements": False, "autoLend": False, "autoRealizePnl": True, "autoRepayBorrows": False,
                "borrowLimit": "0", "futuresMakerFee": f"{mk * 10_000:g}", "futuresTakerFee": f"{tk * 10_000:g}",
                "leverageLimit": str(self.leverage_limit(account)), "limitOrders": len(self.venue.open_orders(account)),
                "liquidating": False, "positionLimit": "1000000", "spotMakerFee": "8", "spotTakerFee": "10",
                "triggerOrders": 0}

    async def _account_update(self, account: str, params: dict[str, Any]) -> None:
        raw = params.get("leverageLimit")
        if raw is None:
            return None
        try:
            lev = Decimal(str(raw))
        except InvalidOperation:
            raise _parse_error("Decimal", "invalid decimal", "AccountUpdatePayload") from None
        top = max(m.max_leverage for m in self.venue.markets.values())
        if lev != lev.to_integral_value() or lev < 1 or lev > top:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", f"Leverage limit must be an integer in 1..{top}")
        self._leverage_limit[account] = int(lev)
        for sym, m in self.venue.markets.items():
            self.venue.set_leverage(account, sym, min(int(lev), m.max_leverage))
        return None

    async def _capital(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        avail = self.venue.available_balance(account)
        locked = self.venue.initial_margin(account)
        return {QUOTE: {"available": f"{avail:.6f}", "locked": f"{locked:.6f}", "staked": "0"}}

    async def _collateral(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        v = self.venue
        acct = v.account(account)
        equity = v.equity(account)
        im = v.initial_margin(account)
        exposure = sum(abs(p.qty) * v.mark_price(s) for s, p in acct.positions.items() if p.qty)
        return {
            "assetsValue": f"{acct.balance:.6f}", "borrowLiability": "0", "liabilitiesValue": "0", "unsettledEquity": "0",
            "netEquity": f"{equity:.6f}", "netEquityAvailable": f"{v.available_balance(account):.6f}",
            "netEquityLocked": f"{im:.6f}", "pnlUnrealized": f"{v.unrealized_pnl(account):.6f}",
            "imf": f"{im / exposure:.6f}" if exposure else "0", "mmf": f"{im / exposure / 2:.6f}" if exposure else "0",
            "marginFraction": f"{equity / exposure:.6f}" if exposure else None, "netExposureFutures": f"{exposure:.6f}",
            "collateral": [{"symbol": QUOTE, "assetMarkPrice": "1", "totalQuantity": f"{acct.balance:.6f}",
                            "balanceNotional": f"{acct.balance:.6f}", "collateralWeight": "1",
                            "collateralValue": f"{acct.balance:.6f}", "openOrderQuantity": "0", "lendQuantity": "0",
                            "availableQuantity": f"{acct.balance:.6f}"}],
        }

    def _order_json(self, o: Order, iso: bool = False) -> dict[str, Any]:
        m = self.venue.markets[o.symbol]
        d: dict[str, Any] = {
            "id": str(o.id), "clientId": int(o.client_id) if o.client_id and o.client_id.isdigit() else None,
            "createdAt": iso_ms(o.created_ms) if iso else o.created_ms,
            "executedQuantity": self._qty(m, o.filled), "executedQuoteQuantity": f"{o.cost:.8f}",
            "orderType": "Limit" if o.type == "limit" else "Market", "quantity": self._qty(m, o.qty),
            "quoteQuantity": None, "reduceOnly": o.reduce_only or None, "relatedOrderId": None,
            "selfTradePrevention": "RejectTaker", "side": "Bid" if o.side == "buy" else "Ask",
            "status": _STATUS.get(o.status, "New"), "stopLossLimitPrice": None, "stopLossTriggerBy": None,
            "stopLossTriggerPrice": None, "strategyId": None, "symbol": self.dex_symbol(o.symbol),
            "systemOrderType": None, "takeProfitLimitPrice": None, "takeProfitTriggerBy": None,
            "takeProfitTriggerPrice": None, "timeInForce": _TIF_OUT.get(o.tif, "GTC") if o.type == "limit" else "GTC", "triggerBy": None,
            "triggerPrice": None, "triggerQuantity": None, "triggeredAt": None,
        }
        if o.type == "stop_market":
            d.update({"triggerBy": _TRIGGER_OUT.get(o.trigger_by or "last"), "triggerPrice": self._px(m, o.trigger_price or 0.0),
                      "triggerQuantity": "100%" if o.close_position and not o.qty else self._qty(m, o.qty),
                      "triggeredAt": o.triggered_ms})
            if o.status == "untriggered":
                d["quantity"] = None
            elif o.status == "expired" and o.cancel_reason == "reduce_only":
                d["status"] = "TriggerFailed"
        if o.type == "limit":
            d["price"] = self._px(m, o.price or 0.0)
            d["postOnly"] = o.tif == "post_only"
        if iso and o.status == "expired":
            d["expiryReason"] = "PostOnlyTaker" if o.tif == "post_only" else "ImmediateOrCancel"
        return d

    @staticmethod
    def _decimal(params: dict[str, Any], name: str, step: Decimal, code: str, *, required: bool) -> float | None:
        raw = params.get(name)
        if raw is None:
            if required:
                raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", f"Missing {name}")
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise _parse_error("Decimal", f"invalid {name}", "OrderExecutePayload")
        try:
            d = Decimal(str(raw))
        except InvalidOperation:
            raise _parse_error("Decimal", f"invalid {name}", "OrderExecutePayload") from None
        if not d.is_finite() or d <= 0:
            raise BackpackApiError(400, code, f"{name.capitalize()} must be positive")
        if d % step != 0:
            raise BackpackApiError(400, code, f"{name.capitalize()} decimal too long")
        return float(d)

    async def _order_execute(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        sym = self._symbol_param(params.get("symbol"), "OrderExecutePayload")
        assert sym is not None
        m = self.venue.markets[sym]
        side = _enum(params.get("side"), {"Bid": "buy", "Ask": "sell"}, "Side")
        otype = _enum(params.get("orderType"), {"Limit": "limit", "Market": "market"}, "OrderType")
        tif = _enum(params.get("timeInForce", "GTC"), _TIF_IN, "TimeInForce")
        cid = params.get("clientId")
        if cid is not None and (isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid < 1 << 32):
            raise _parse_error("u32", "clientId must be an unsigned 32-bit integer", "OrderExecutePayload")
        flags = {}
        for name in ("postOnly", "reduceOnly"):
            v = params.get(name, False)
            if not isinstance(v, bool):
                raise _parse_error("bool", f"{name} must be a boolean", "OrderExecutePayload")
            flags[name] = v
        if ("triggerPrice" in params) != ("triggerQuantity" in params):
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST",
                                   "Must specify both `triggerPrice` and `triggerQuantity` or neither")
        if "triggerPrice" in params:
            if otype != "market":
                raise BackpackApiError(400, "INVALID_ORDER", "Only market trigger orders are supported here")
            return self._trigger_order(account, sym, side, params, flags["reduceOnly"], cid)
        qty = self._decimal(params, "quantity", m.lot_size, "INVALID_QUANTITY", required=False)
        price = self._decimal(params, "price", m.tick_size, "INVALID_PRICE", required=otype == "limit")
        if otype == "market" and qty is None:
            quote_qty = params.get("quoteQuantity")
            try:
                qq = float(Decimal(str(quote_qty))) if quote_qty is not None else None
            except InvalidOperation:
                qq = None
            if qq is None or not qq > 0:
                raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Market order needs quantity or quoteQuantity")
            bb, ba = self.venue.bbo(sym)
            ref = (ba if side == "buy" else bb) or (None, None)
            if ref[0] is None:
                raise BackpackApiError(400, "INVALID_ORDER", "No liquidity")
            qty = math.floor(qq / ref[0] / m.lot) * m.lot
            qty = m.round_size(qty)
        if qty is None:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Missing quantity")
        if qty < float(m.min_size) - 1e-12:
            raise BackpackApiError(400, "INVALID_QUANTITY", f"Quantity is below the minimum allowed value {m.min_size}")
        if flags["postOnly"] and otype == "limit":
            tif = "post_only"
        order = self.venue.place_order(account, sym, side, qty, order_type=otype, price=price, tif=tif,
                                       reduce_only=flags["reduceOnly"], client_id=str(cid) if cid is not None else None)
        return self._order_json(order)

    def _trigger_order(self, account: str, sym: str, side: str, params: dict[str, Any], reduce_only: bool,
                       cid: int | None) -> dict[str, Any]:
        """A market order with ``triggerPrice``/``triggerQuantity``/``triggerBy`` (protocol §5):
        rests ``TriggerPending`` until the ``triggerBy`` price (default ``LastPrice``) reaches the
        trigger; ``triggerQuantity`` may be ``"100%"`` with ``reduceOnly`` (the whole position)."""
        m = self.venue.markets[sym]
        by = _enum(params.get("triggerBy", "LastPrice"), _TRIGGER_BY, "TriggerBy")
        trigger = self._decimal(params, "triggerPrice", m.tick_size, "INVALID_PRICE", required=True)
        assert trigger is not None
        whole = params.get("triggerQuantity") == "100%"
        if whole and not reduce_only:
            raise BackpackApiError(400, "INVALID_ORDER", "A percentage trigger quantity needs reduceOnly")
        qty = 0.0 if whole else self._decimal(params, "triggerQuantity", m.lot_size, "INVALID_QUANTITY", required=True)
        assert qty is not None
        if not whole and qty < float(m.min_size) - 1e-12:
            raise BackpackApiError(400, "INVALID_QUANTITY", f"Quantity is below the minimum allowed value {m.min_size}")
        try:
            order = self.venue.conditional.place(account, sym, side, qty, trigger, trigger_by=by,
                                                 reduce_only=reduce_only, close_position=whole,
                                                 client_id=str(cid) if cid is not None else None)
        except SimError as exc:
            if exc.kind == "would_trigger":
                raise BackpackApiError(400, "INVALID_ORDER", f"Trigger price would trigger immediately ({exc.message})") from None
            raise
        return self._order_json(order)

    def _find(self, account: str, params: dict[str, Any], payload: str) -> tuple[str, Order | None]:
        sym = self._symbol_param(params.get("symbol"), payload)
        assert sym is not None
        oid, cid = params.get("orderId"), params.get("clientId")
        if oid is not None and cid is not None:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Specify either orderId or clientId, not both")
        if oid is None and cid is None:
            raise BackpackApiError(400, "INVALID_CLIENT_REQUEST", "Specify orderId or clientId")
        if oid is not None:
            if not str(oid).isdigit():
                return sym, None
            return sym, self.venue.find_order(account, sym, int(str(oid)))
        return sym, self.venue.find_order(account, sym, client_id=str(cid))

    async def _order_query(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        _, o = self._find(account, params, "OrderQuery")
        if o is None or not o.is_open:  # only resting orders (§5.4)
            raise BackpackApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        return self._order_json(o)

    async def _order_cancel(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        sym, o = self._find(account, params, "OrderCancelPayload")
        if o is None or not o.is_open:
            raise BackpackApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        return self._order_json(self.venue.cancel_order(account, sym, o.id))

    async def _open_orders(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "OrderQueryAll", required=False)
        return [self._order_json(o) for o in self.venue.open_orders(account, sym)]

    async def _cancel_all(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "OrderCancelAllPayload")
        return [self._order_json(o) for o in self.venue.cancel_all(account, sym)]

    async def _order_history(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "OrderHistory", required=False)
        limit, offset = self._paging(params, 100, 1000)
        oid = params.get("orderId")
        rows = [o for o in reversed(list(self.venue.account(account).orders.values()))
                if not o.is_open and (sym is None or o.symbol == sym) and (oid is None or str(o.id) == str(oid))]
        return [self._order_json(o, iso=True) for o in rows[offset:offset + limit]]

    async def _fills(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "FillHistory", required=False)
        limit, offset = self._paging(params, 100, 1000)
        oid = params.get("orderId")
        acct = self.venue.account(account)
        rows = []
        for f in reversed(acct.fills):
            if (sym is not None and f.symbol != sym) or (oid is not None and str(f.order_id) != str(oid)):
                continue
            m = self.venue.markets[f.symbol]
            o = acct.orders.get(f.order_id)
            rows.append({"tradeId": f.trade_id, "orderId": str(f.order_id),
                         "clientId": int(o.client_id) if o and o.client_id and o.client_id.isdigit() else None,
                         "symbol": self.dex_symbol(f.symbol), "side": "Bid" if f.side == "buy" else "Ask",
                         "price": self._px(m, f.price), "quantity": self._qty(m, f.qty), "fee": f"{f.fee:.8f}",
                         "feeSymbol": QUOTE, "isMaker": f.maker,
                         "systemOrderType": _SYSTEM_FILLS.get(f.system or (o.system if o else None) or ""),
                         "timestamp": iso_ms(f.ts)})
        return rows[offset:offset + limit]

    async def _funding_history_private(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "FundingHistory", required=False)
        limit, offset = self._paging(params, 100, 1000)
        rows = [{"fundingRate": f"{p.rate:.10f}", "intervalEndTimestamp": iso_ms(p.ts), "quantity": f"{p.amount:.8f}",
                 "subaccountId": 0, "symbol": self.dex_symbol(p.symbol), "userId": 1}
                for p in self.venue.account(account).fundings if sym is None or p.symbol == sym]
        if params.get("sortDirection", "Desc") != "Asc":
            rows.reverse()
        return rows[offset:offset + limit]

    def _position_row(self, account: str, sym: str) -> dict[str, Any] | None:
        v = self.venue
        pos = v.account(account).positions.get(sym)
        if pos is None or not pos.qty:
            return None
        m = v.markets[sym]
        mark = v.mark_price(sym)
        imf = 1.0 / v.leverage(account, sym)
        pending = sum(o.remaining for o in v.open_orders(account, sym) if not o.reduce_only
                      and (o.side == "buy") == (pos.qty > 0))
        exposure = abs(pos.qty) + pending
        return {
            "breakEvenPrice": f"{pos.entry_price:.8f}", "cumulativeFundingPayment": f"{pos.funding:.8f}",
            "cumulativeInterest": "0", "entryPrice": f"{pos.entry_price:.8f}",
            "estLiquidationPrice": f"{v.liquidation_price(account, sym):.8f}", "imf": f"{imf:.6f}",
            "imfFunction": {"type": "sqrt", "base": f"{1.0 / m.max_leverage:.4f}", "factor": "0.0001275"},
            "markPrice": f"{mark:.8f}", "mmf": f"{imf / 2:.6f}",
            "mmfFunction": {"type": "sqrt", "base": f"{0.5 / m.max_leverage:.4f}", "factor": "0.0000765"},
            "netCost": f"{pos.qty * pos.entry_price:.8f}", "netExposureNotional": f"{exposure * mark:.8f}",
            "netExposureQuantity": self._qty(m, exposure), "netQuantity": self._qty(m, pos.qty),
            "pnlRealized": f"{pos.realized_pnl:.8f}", "pnlUnrealized": f"{(mark - pos.entry_price) * pos.qty:.8f}",
            "positionId": str(abs(hash((account, sym))) % 10**10), "subaccountId": None,
            "symbol": self.dex_symbol(sym), "userId": 1,
        }

    async def _positions(self, account: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self._symbol_param(params.get("symbol"), "PositionQuery", required=False)
        rows = [r for s in ([sym] if sym else self.venue.markets) if (r := self._position_row(account, s)) is not None]
        if sym is not None and not rows:
            raise BackpackApiError(404, "RESOURCE_NOT_FOUND", "Position not found")
        return rows

    # -- WebSocket ----------------------------------------------------------------------------------
    def _ensure_pump(self) -> None:
        if self._pump_task is None and not self._closing:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump(), name="backpack-emulator-pump")

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=PING_INTERVAL, max_msg_size=1 << 20)
        await ws.prepare(request)
        sock = _Socket(ws)
        sock.start()
        self._socks.add(sock)
        self._ensure_pump()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._control(sock, msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            self._socks.discard(sock)
            if sock.task is not None:
                sock.task.cancel()
        return ws

    @staticmethod
    def _error_frame(code: int, message: str) -> bytes:
        return _encode({"id": None, "error": {"code": code, "message": message}})

    def _control(self, sock: _Socket, text: str) -> None:
        """Handle one SUBSCRIBE / UNSUBSCRIBE frame; anything else gets an error frame."""
        try:
            req = msgspec.json.decode(text)
        except msgspec.DecodeError:
            sock.push(self._error_frame(4000, "Invalid message"))
            return
        if not isinstance(req, dict) or req.get("method") not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            sock.push(self._error_frame(4001, "Invalid method"))
            return
        params = req.get("params")
        if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
            sock.push(self._error_frame(4002, "Invalid params"))
            return
        if req["method"] == "UNSUBSCRIBE":
            sock.streams.difference_update(params)
            return
        private = [p for p in params if p.startswith("account.")]
        if private:
            account = self._ws_auth(req.get("signature"))
            if account is None:
                sock.push(self._error_frame(4006, "Invalid signature"))
                return
            sock.account = account
        for name in params:
            if not self._valid_stream(name):
                sock.push(self._error_frame(4006, "Invalid stream"))
                return
        for name in params:
            sock.streams.add(name)
            mt = _STREAM_RE.match(name)
            if mt is not None and mt.group("kind") == "bookTicker":
                sym = self._canonical(mt.group("sym"))
                if sym is not None:
                    self._send(sock, name, sym, self._book_ticker_payload(sym, self.venue.sequence(sym), now_ms()))
            pm = _PRIVATE_RE.match(name)
            if pm is not None and pm.group("kind") == "positionUpdate" and sock.account is not None:
                self._position_snapshot(sock, name, sock.account, self._canonical(pm.group("sym")) if pm.group("sym") else None)

    def _valid_stream(self, name: str) -> bool:
        mt = _STREAM_RE.match(name)
        if mt is not None:
            return self._canonical(mt.group("sym")) is not None
        mt = _PRIVATE_RE.match(name)
        if mt is not None:
            return mt.group("sym") is None or self._canonical(mt.group("sym")) is not None
        return False

    def _ws_auth(self, signature: Any) -> str | None:
        """Verify a private SUBSCRIBE's ``signature`` [key, sig, timestamp, window] (§6.1)."""
        if not isinstance(signature, list) or len(signature) != 4 or not all(isinstance(x, str) for x in signature):
            return None
        key, sig, ts, window = signature
        if not ts.isdigit() or not window.isdigit() or int(window) > MAX_WINDOW_MS:
            return None
        if abs(now_ms() - int(ts)) > int(window):
            return None
        msg = f"instruction=subscribe&timestamp={ts}&window={window}".encode()
        return key if self._signature_ok(key, sig, [msg]) else None

    def _send(self, sock: _Socket, stream: str, symbol: str | None, payload: bytes, *, fill_of: str | None = None) -> None:
        """Wrap ``payload`` for ``stream`` and queue it; ``fill_of`` (the fill's symbol) marks a
        private fill frame, subject to the ``dup`` / ``user_drop`` faults."""
        frame = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        if symbol is not None and self.venue.faults.take("malformed", symbol):
            frame = frame[: len(frame) // 2]  # truncated mid-frame: not valid JSON
        if fill_of is not None:
            sock.push_private(frame, self.venue.faults, fill_of, fill=True)
        else:
            sock.push(frame)

    def _book_ticker_payload(self, sym: str, seq: int, ts_ms: int) -> bytes:
        m = self.venue.markets[sym]
        bid, ask = self.venue.bbo(sym)
        us = ts_ms * 1000
        return _encode({"e": "bookTicker", "E": us, "s": self.dex_symbol(sym),
                        "a": self._px(m, ask[0]) if ask else "0", "A": self._qty(m, ask[1]) if ask else "0",
                        "b": self._px(m, bid[0]) if bid else "0", "B": self._qty(m, bid[1]) if bid else "0",
                        "u": str(seq), "T": us})

    def _periodic_payload(self, kind: str, sym: str) -> bytes:
        us = int(time.time() * 1_000_000)
        if kind == "markPrice":
            return _encode({"e": "markPrice", "E": us, "s": self.dex_symbol(sym), "p": f"{self.venue.mark_price(sym):.8f}",
                            "f": f"{self.venue.funding_rate(sym):.10f}", "i": f"{self.venue.index_price(sym):.8f}",
                            "n": self.venue.next_funding_ms(sym), "T": us})
        if kind == "openInterest":
            return _encode({"e": "openInterest", "E": us, "s": self.dex_symbol(sym), "o": self._oi_row(sym)["openInterest"]})
        t = self._ticker_row(sym)
        return _encode({"e": "ticker", "E": us, "s": self.dex_symbol(sym), "o": t["firstPrice"], "c": t["lastPrice"],
                        "h": t["high"], "l": t["low"], "v": t["volume"], "V": t["quoteVolume"], "n": 1000})

    async def _pump(self) -> None:
        """Every second: markPrice / ticker / openInterest streams; ``drop`` faults (checked
        every 50 ms)."""
        ticks = 0
        while True:
            await asyncio.sleep(0.05)
            ticks += 1
            try:
                if self.venue.faults.take("drop"):
                    for s in list(self._socks):
                        await s.ws.close()
                if self.venue.faults.take("stall"):
                    for s in list(self._socks):
                        s.stall(STALL_SECONDS)
                if ticks % 20:
                    continue
                cache: dict[str, bytes] = {}
                for sock in list(self._socks):
                    for name in list(sock.streams):
                        mt = _STREAM_RE.match(name)
                        if mt is None or mt.group("kind") not in ("markPrice", "ticker", "openInterest"):
                            continue
                        sym = self._canonical(mt.group("sym"))
                        if sym is None:
                            continue
                        if name not in cache:
                            cache[name] = self._periodic_payload(mt.group("kind"), sym)
                        self._send(sock, name, sym, cache[name])
            except Exception:  # noqa: BLE001 - keep streaming
                log.exception("%s emulator: stream pump failed", EXCHANGE)

    # -- engine events -----------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, BookEvent):
            self._on_book(ev)
        elif isinstance(ev, OrderEvent):
            self._on_order(ev)
        elif isinstance(ev, FundingEvent):
            self._push_position(ev.account, ev.payment.symbol, ev.payment.ts)

    def _on_book(self, ev: BookEvent) -> None:
        if not self._socks:
            return
        dex = self.dex_symbol(ev.symbol)
        m = self.venue.markets[ev.symbol]
        bbo = self.venue.bbo(ev.symbol)
        bbo_changed = self._last_bbo.get(ev.symbol) != bbo
        if bbo_changed:
            self._last_bbo[ev.symbol] = bbo
        us = ev.ts * 1000
        depth: bytes | None = None
        ticker: bytes | None = None
        for sock in list(self._socks):
            # depth before bookTicker, so that an injected ``malformed`` fault hits the depth frame
            for name in sorted((n for n in sock.streams if n.endswith(dex) and not n.startswith("account.")),
                               key=lambda n: not n.startswith("depth.")):
                if name.startswith("depth.") and name.split(".")[-1] == dex:
                    if depth is None:
                        depth = _encode({"e": "depth", "E": us, "s": dex,
                                         "a": [[self._px(m, p), self._qty(m, q)] for p, q in ev.asks],
                                         "b": [[self._px(m, p), self._qty(m, q)] for p, q in ev.bids],
                                         "U": ev.prev_seq + 1, "u": ev.seq, "T": us})
                    self._send(sock, name, ev.symbol, depth)
                elif name == f"bookTicker.{dex}" and bbo_changed:
                    if ticker is None:
                        ticker = self._book_ticker_payload(ev.symbol, ev.seq, ev.ts)
                    self._send(sock, name, ev.symbol, ticker)

    def _private_socks(self, account: str, kind: str, sym: str) -> list[tuple[_Socket, str]]:
        out = []
        base = f"account.{kind}"
        for sock in self._socks:
            if sock.account != account:
                continue
            for name in (base, f"{base}.{self.dex_symbol(sym)}"):
                if name in sock.streams:
                    out.append((sock, name))
        return out

    def _on_order(self, ev: OrderEvent) -> None:
        o, f = ev.order, ev.fill
        targets = self._private_socks(ev.account, "orderUpdate", o.symbol)
        if targets:
            m = self.venue.markets[o.symbol]
            us = ev.ts * 1000
            e = "orderFill" if f is not None else _EVENT.get(o.status, "orderAccepted")
            data: dict[str, Any] = {
                "e": e, "E": us, "s": self.dex_symbol(o.symbol), "S": "Bid" if o.side == "buy" else "Ask",
                "o": o.type.upper(), "f": _TIF_OUT.get(o.tif, "GTC"), "q": self._qty(m, o.qty),
                "X": _STATUS.get(o.status, "New"), "i": str(o.id), "z": self._qty(m, o.filled),
                "Z": f"{o.cost:.8f}", "V": "RejectTaker", "r": o.reduce_only, "y": o.tif == "post_only",
                "O": _ORIGINS.get(o.system or "", "USER"), "T": us,
            }
            if o.price is not None:
                data["p"] = self._px(m, o.price)
            if o.client_id and o.client_id.isdigit():
                data["c"] = int(o.client_id)
            if f is not None:
                data.update({"t": f.trade_id, "l": self._qty(m, f.qty), "L": self._px(m, f.price), "m": f.maker,
                             "n": f"{f.fee:.8f}", "N": QUOTE})
            if o.type == "stop_market":
                data["o"] = "MARKET"
                data.update({"P": self._px(m, o.trigger_price or 0.0), "B": _TRIGGER_OUT.get(o.trigger_by or "last"),
                             "Y": "100%" if o.close_position and not o.qty else self._qty(m, o.qty)})
                if o.status == "expired" and o.cancel_reason == "reduce_only":
                    e = data["e"] = "triggerFailed"
                    data["X"] = "TriggerFailed"
            if e == "orderExpired":
                data["R"] = "POST_ONLY_TAKER" if o.tif == "post_only" else "IMMEDIATE_OR_CANCEL"
            payload = _encode(data)
            for sock, name in targets:
                self._send(sock, name, None, payload, fill_of=o.symbol if f is not None else None)
        if f is not None:
            qty = self.venue.account(ev.account).position(o.symbol).qty
            before = qty - (f.qty if o.side == "buy" else -f.qty)
            event = "positionOpened" if abs(before) < 1e-12 else "positionAdjusted"
            self._push_position(ev.account, o.symbol, ev.ts, event)

    def _position_frame(self, account: str, sym: str, ts_ms: int, event: str | None) -> dict[str, Any]:
        """A position-update payload (§6.3); ``event`` None = the snapshot sent on subscribe (no ``e``)."""
        row = self._position_row(account, sym)
        us = ts_ms * 1000
        m = self.venue.markets[sym]
        if row is None:
            data: dict[str, Any] = {"E": us, "s": self.dex_symbol(sym), "q": self._qty(m, 0.0), "T": us}
            event = "positionClosed" if event is not None else None
        else:
            data = {"E": us, "s": self.dex_symbol(sym), "b": row["breakEvenPrice"], "B": row["entryPrice"],
                    "f": row["imf"], "M": row["markPrice"], "m": row["mmf"], "q": row["netQuantity"],
                    "Q": row["netExposureQuantity"], "n": row["netExposureNotional"], "i": row["positionId"],
                    "p": row["pnlRealized"], "P": row["pnlUnrealized"], "l": "0", "T": us}
        if event is not None:
            data["e"] = event
        return data

    def _push_position(self, account: str, sym: str, ts_ms: int, event: str = "positionAdjusted") -> None:
        targets = self._private_socks(account, "positionUpdate", sym)
        if not targets:
            return
        payload = _encode(self._position_frame(account, sym, ts_ms, event))
        for sock, name in targets:
            self._send(sock, name, None, payload)

    def _position_snapshot(self, sock: _Socket, name: str, account: str, sym: str | None) -> None:
        """On subscribe the server first sends the open positions without an ``e`` field (§6.3)."""
        acct = self.venue.account(account)
        for s, pos in acct.positions.items():
            if pos.qty and (sym is None or s == sym):
                self._send(sock, name, None, _encode(self._position_frame(account, s, now_ms(), None)))
