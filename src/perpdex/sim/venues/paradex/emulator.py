"""Paradex's wire dialect over the venue-agnostic engine (:class:`perpdex.sim.engine.Venue`).

Serves REST under ``/v1/`` and the JSON-RPC WebSocket at ``/v1`` as described in
``docs/exchanges/paradex.md``, closely enough that unmodified ccxt 4.5.90
(``async_support.paradex`` and ``pro.paradex``) and our native client trade against it:

* markets ``BASE-USD-PERP`` (``k`` prefix for 1 000-token bundles), ``max leverage = 1/imf_base``;
* ``POST /v1/auth`` (and ``/v1/auth/{pubkey}``) checks the Starknet-signed headers — the
  ``Request`` typed-data signature is verified with the fast Stark ECDSA of
  :mod:`.signer` against the public key registered for the account (the sim account, or one
  onboarded with ``POST /v1/onboarding``) — and issues a real HS256 JWT with ``exp``
  (:data:`JWT_LIFETIME_S`); private REST takes ``Authorization: Bearer <jwt>``;
* ``POST /v1/orders`` verifies the ``Order`` signature (``INVALID_ORDER_SIGNATURE`` otherwise),
  answers ``NEW``; the engine matches synchronously, so a fetch shows the result;
* WebSocket (``/v1``; ``?sbeSchemaId=1&sbeSchemaVersion=0..3`` switches the **public** channel
  data to SBE binary, anything else is refused with HTTP 400): ``auth``, ``subscribe``,
  ``unsubscribe``; channels ``bbo.<m>``, ``order_book.<m>.snapshot@15@<rate>`` (a full 15-level
  snapshot per refresh), ``order_book.<m>.deltas`` (a full-depth snapshot, then one delta per
  engine book event with ``seq_no`` = previous + 1; an engine gap skips one), ``trades.<m>``,
  ``markets_summary[.<m>]``, ``funding_data[.<m>]``; private ``orders.*``, ``fills.*``,
  ``positions``, ``account``, ``funding_payments.*`` (JSON only).
* Funding: the engine pays every funding period (8 h, compressed by the time scale); the
  emulator quotes ``funding_rate`` per period and ``funding_rate_8h`` normalised, and advances a
  continuous ``funding_index`` (rate × mark per period, per second) for ``funding_data`` and the
  ``index`` of ``/v1/funding/payments`` rows. No engine change.

Engine accounts are keyed by the Starknet account address (lower-case hex). Engine order ``n`` is
Paradex order id ``str(10**27 + n)``. Errors are ``{"error", "message", "data"}`` (§5.10):
engine ``SimError`` kinds ``invalid`` -> HTTP 400 ``INVALID_ORDER_SIZE`` / ``INVALID_PRICE_PRECISION``
/ ``INVALID_REQUEST_PARAMETER``; ``margin``/``reduce_only``/``rejected`` -> the order comes back
``CLOSED`` with ``cancel_reason`` ``NOT_ENOUGH_MARGIN`` / ``REDUCE_ONLY_WILL_INCREASE`` /
``ORDER_EXCEEDS_POSITION_LIMIT`` (Paradex rejects after acceptance); ``not_found`` -> HTTP 404
``ORDER_ID_NOT_FOUND``. Faults: ``http429`` -> HTTP 429 ``RATE_LIMIT_EXCEEDED``, ``delay`` -> the
next REST answer waits 1 s, ``malformed`` -> one book delta is replaced by a truncated frame,
``drop`` -> every socket is closed, ``reject`` -> engine rejection, ``gap`` -> a ``seq_no`` jump,
``dup`` / ``user_drop`` -> the next ``fills.*`` frame duplicated / lost with its socket closed.
Engine liquidations / ADL are fills with ``fill_type`` ``LIQUIDATION``.
"""

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

import msgspec
from aiohttp import WSMsgType, web

from ....exchanges.paradex import schemas, signer
from ....exchanges.paradex.symbols import market_name
from ...engine import BookEvent, Event, FundingEvent, Order, OrderEvent, SimError, Venue, now_ms
from ...history import HOUR_MS
from ...wsqueue import STALL_SECONDS, QueuedSocket
from .auth import SIM_ACCOUNT, SIM_ETH_ADDRESS, SIM_ETH_PRIVATE_KEY, SIM_STARK_PRIVATE_KEY
from .sbe import SBE_VERSIONS, encode_bbo, encode_book, encode_funding, encode_summary, encode_trade

log = logging.getLogger(__name__)

EXCHANGE = "paradex"
CHAIN_ID = "PRIVATE_SN_PERPDEX_SIM"
L1_CHAIN_ID = "11155111"
ORDER_ID_BASE = 10**27
JWT_LIFETIME_S = 300
PUMP_SECONDS = 0.05
SNAPSHOT_DEPTH = 15
MAX_QUEUE = 20_000
_encode = msgspec.json.Encoder().encode
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


class ParadexApiError(Exception):
    """A Paradex-shaped error answer: HTTP ``status`` with ``{"error": code, "message": msg}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


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
class ParadexEmulator:
    """Paradex's REST + WebSocket protocol over one :class:`Venue` (see module docstring)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
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
        self._pump: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = venue.subscribe(self._on_event)

    # -- wiring -----------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v1", self._ws_handler)
        r.add_get("/v1/", self._ws_handler)
        for path, handler in (
            ("/v1/system/config", self._system_config), ("/v1/system/time", self._system_time),
            ("/v1/system/state", self._system_state), ("/v1/markets", self._markets),
            ("/v1/markets/summary", self._summary), ("/v1/orderbook/{market}", self._orderbook),
            ("/v1/bbo/{market}", self._bbo), ("/v1/funding/data", self._funding_data),
            ("/v1/trades", self._trades), ("/v1/onboarding", self._onboarding_get),
            ("/v1/account", self._account), ("/v1/balance", self._balance), ("/v1/positions", self._positions),
            ("/v1/orders", self._open_orders), ("/v1/orders/{order_id}", self._get_order),
            ("/v1/orders/by_client_id/{client_id}", self._get_order), ("/v1/orders-history", self._orders_history),
            ("/v1/fills", self._fills), ("/v1/funding/payments", self._funding_payments),
            ("/v1/account/margin", self._margin_get),
        ):
            r.add_get(path, handler)
        r.add_post("/v1/auth", self._auth)
        r.add_post("/v1/auth/{public_key}", self._auth)
        r.add_post("/v1/onboarding", self._onboarding_post)
        r.add_post("/v1/orders", self._create_order)
        r.add_delete("/v1/orders", self._cancel_all)
        r.add_delete("/v1/orders/{order_id}", self._cancel_order)
        r.add_delete("/v1/orders/by_client_id/{client_id}", self._cancel_order)
        r.add_post("/v1/account/margin/{market}", self._margin_set)
        app.on_startup.append(self._start)
        return app

    async def _start(self, _app: web.Application) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._pump_loop(), name="paradex-emulator-pump")

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """``rest_url`` (``.../v1``), ``ws_url`` (JSON; add ``?sbeSchemaId=1&sbeSchemaVersion=3``
        for SBE), ``ccxt`` constructor options for unmodified ccxt (URL overrides, the sim
        Ethereum wallet, the pre-derived Stark account in ``options.paradexAccount``, JSON WS by
        default) and ``credentials`` for :class:`~perpdex.exchanges.paradex.ParadexClient`."""
        base = f"http://{host}:{port}"
        account = {"privateKey": SIM_STARK_PRIVATE_KEY, "publicKey": hex(self.sim_public_key), "address": SIM_ACCOUNT}
        return {
            "rest_url": f"{base}/v1",
            "ws_url": f"ws://{host}:{port}/v1",
            "ccxt": {
                "urls": {"api": {"v1": f"{base}/v1", "v2": f"{base}/v2", "ws": f"ws://{host}:{port}/v1"}},
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "walletAddress": SIM_ETH_ADDRESS,
                "privateKey": SIM_ETH_PRIVATE_KEY,
                "options": {"paradexAccount": account, "sbe": False},
            },
            "credentials": {"l2_private_key": SIM_STARK_PRIVATE_KEY, "l2_address": SIM_ACCOUNT,
                            "l2_public_key": hex(self.sim_public_key)},
        }

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                pass
            self._pump = None
        for c in list(self._clients):
            c.finish()
            if not c.ws.closed:
                await c.ws.close()
        self._clients.clear()

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

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(body=_encode(data), status=status, content_type="application/json")

    def _market(self, name: str | None) -> str:
        sym = self.markets.get(name or "")
        if sym is None:
            raise ParadexApiError("MARKET_NOT_FOUND", f"market {name!r} not found", 400)
        return sym

    # -- public REST ------------------------------------------------------------------------------
    async def _system_config(self, _r: web.Request) -> web.Response:
        return self._json(_CONFIG)

    async def _system_time(self, _r: web.Request) -> web.Response:
        return self._json({"server_time": str(now_ms())})

    async def _system_state(self, _r: web.Request) -> web.Response:
        return self._json({"status": "ok"})

    def _market_json(self, name: str, sym: str) -> dict[str, Any]:
        m = self.venue.market(sym)
        period = m.funding_interval_hours
        return {
            "symbol": name, "base_currency": name.split("-")[0], "quote_currency": "USD", "settlement_currency": "USDC",
            "order_size_increment": _fmt(m.lot_size), "price_tick_size": _fmt(m.tick_size),
            "min_notional": _fmt(m.min_notional), "open_at": 1717065600000, "expiry_at": 0, "asset_kind": "PERP",
            "market_kind": "cross", "position_limit": _fmt(Decimal(m.level_size) * 10_000),
            "price_bands_width": "0.05", "max_open_orders": 100, "max_funding_rate": "0.05",
            "delta1_cross_margin_params": {"imf_base": _fmt(Decimal(1) / Decimal(m.max_leverage)), "imf_shift": "0",
                                           "imf_factor": "0", "mmf_factor": "0.5"},
            "price_feed_id": "sim", "oracle_ewma_factor": "0.2",
            "max_order_size": _fmt(Decimal(m.level_size) * 1000), "max_funding_rate_change": "0.0005",
            "max_tob_spread": "0.2", "interest_rate": "0.0001", "clamp_rate": "0.0005", "funding_multiplier": 1,
            "funding_period_hours": int(period) if float(period).is_integer() else period,
            "tags": [], "chain_details": {},
        }

    async def _markets(self, request: web.Request) -> web.Response:
        want = request.query.get("market")
        rows = [self._market_json(n, s) for n, s in self.markets.items() if not want or want == n]
        if want and not rows:
            raise ParadexApiError("MARKET_NOT_FOUND", f"market {want!r} not found")
        if not want:  # a perpetual option row, as the real list carries them
            opt = self._market_json("BTC-USD-96000-C", next(iter(self.markets.values())))
            opt.update({"symbol": "BTC-USD-96000-C", "asset_kind": "PERP_OPTION", "funding_period_hours": "24",
                        "option_type": "CALL", "strike_price": "96000"})
            rows.append(opt)
        return self._json({"results": rows})

    def _rate(self, sym: str) -> tuple[float, float, int | float]:
        """(rate per period, rate per 8 h, period hours)."""
        period = self.venue.market(sym).funding_interval_hours
        rate = self.venue.funding_rate(sym)
        return rate, rate * 8.0 / period, int(period) if float(period).is_integer() else period

    def _summary_json(self, name: str, sym: str) -> dict[str, Any]:
        m = self.venue.market(sym)
        mark = self.venue.mark_price(sym)
        bid, ask = self.venue.bbo(sym)
        rate, _, _ = self._rate(sym)
        return {
            "symbol": name, "oracle_price": _fmt(self.venue.index_price(sym)), "mark_price": _fmt(mark),
            "last_traded_price": _fmt(m.round_price(mark)), "bid": _fmt(bid[0]) if bid else "",
            "bid_size": _fmt(bid[1]) if bid else "", "ask": _fmt(ask[0]) if ask else "",
            "ask_size": _fmt(ask[1]) if ask else "", "volume_24h": _fmt(m.volume_24h_usd),
            "total_volume": _fmt(m.volume_24h_usd * 365), "created_at": now_ms(),
            "underlying_price": _fmt(self.venue.index_price(sym)),
            "open_interest": _fmt(round(m.open_interest_usd / mark, 8) if mark else 0.0),
            "funding_rate": _fmt(rate), "price_change_rate_24h": "0.0012",
        }

    async def _summary(self, request: web.Request) -> web.Response:
        want = request.query.get("market")
        if not want:
            raise ParadexApiError("VALIDATION_ERROR", "market is required (a market symbol or ALL)")
        if want == "ALL":
            return self._json({"results": [self._summary_json(n, s) for n, s in self.markets.items()]})
        return self._json({"results": [self._summary_json(want, self._market(want))]})

    async def _orderbook(self, request: web.Request) -> web.Response:
        name = request.match_info["market"]
        sym = self._market(name)
        try:
            depth = int(request.query.get("depth", "20"))
        except ValueError:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "depth must be an integer") from None
        if depth <= 0:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "depth must be positive")
        bids, asks = self._sorted(sym, depth)
        top = lambda lv: [_fmt(lv[0][0]), _fmt(lv[0][1])] if lv else []  # noqa: E731 - a one-line local helper reads best as a lambda
        return self._json({"market": name, "seq_no": self._seq[sym], "last_updated_at": self._ts[sym],
                           "bids": [[_fmt(p), _fmt(s)] for p, s in bids], "asks": [[_fmt(p), _fmt(s)] for p, s in asks],
                           "best_bid_api": top(bids), "best_ask_api": top(asks),
                           "best_bid_interactive": top(bids), "best_ask_interactive": top(asks)})

    def _sorted(self, sym: str, depth: int | None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        b, a = self._book[sym]
        bids = sorted(b.items(), key=lambda kv: -kv[0])
        asks = sorted(a.items())
        return (bids[:depth], asks[:depth]) if depth else (bids, asks)

    def _bbo_json(self, name: str, sym: str) -> dict[str, Any]:
        bids, asks = self._sorted(sym, 1)
        return {"market": name, "bid": _fmt(bids[0][0]) if bids else "", "bid_size": _fmt(bids[0][1]) if bids else "",
                "ask": _fmt(asks[0][0]) if asks else "", "ask_size": _fmt(asks[0][1]) if asks else "",
                "last_updated_at": self._ts[sym], "seq_no": self._seq[sym]}

    async def _bbo(self, request: web.Request) -> web.Response:
        name = request.match_info["market"]
        return self._json(self._bbo_json(name, self._market(name)))

    def _funding_json(self, name: str, sym: str) -> dict[str, Any]:
        rate, rate8, period = self._rate(sym)
        mark = self.venue.mark_price(sym)
        return {"market": name, "funding_index": _fmt(round(self._funding_index[sym], 12)),
                "funding_premium": _fmt(round(rate * mark, 12)), "funding_rate": _fmt(rate),
                "funding_rate_8h": _fmt(round(rate8, 14)), "funding_period_hours": period, "created_at": now_ms()}

    async def _funding_data(self, request: web.Request) -> web.Response:
        """Without ``start_at``/``end_at``: the current observation. With them: the venue's
        generated past as observations every :data:`FUNDING_SAMPLE_MS` (each hour's samples carry
        that hour's rate), ``created_at`` in [start_at, end_at] (ms), **newest first**, at most
        ``page_size`` (default 100, max 5000) a page, ``next`` a cursor for the following page
        (protocol doc §3.4)."""
        name = request.query.get("market")
        sym = self._market(name)
        assert name is not None  # _market raised otherwise
        q = request.query
        if "start_at" not in q and "end_at" not in q and "cursor" not in q:
            return self._json({"next": None, "prev": None, "results": [self._funding_json(name, sym)]})
        try:
            start = int(q.get("start_at") or 0)
            end = int(q.get("end_at") or now_ms())
            size = int(q.get("page_size") or 100)
            below = int(_unb64(q["cursor"]).decode()) if q.get("cursor") else None
        except (ValueError, UnicodeDecodeError):
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "start_at, end_at, page_size and cursor must be valid") from None
        if not 1 <= size <= 5000:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "page_size must be between 1 and 5000")
        path = self.venue.funding_history(sym, step_hours=1)
        hours = path.window(None, self.venue.started_ms)  # the generated past (hourly, uncompressed)
        first, last_end = path.times_ms[hours[0]] - HOUR_MS, path.times_ms[hours[-1]]
        top = min(end, last_end - 1, below - 1 if below is not None else end)
        t = top - top % FUNDING_SAMPLE_MS
        lo = max(start, first)
        rows: list[dict[str, Any]] = []
        while t >= lo and len(rows) < size:
            k = (t - first) // HOUR_MS
            rows.append(self._past_funding_json(name, sym, t, path.rates[k], path.marks[k]))
            t -= FUNDING_SAMPLE_MS
        nxt = _b64(str(t + FUNDING_SAMPLE_MS).encode()) if t >= lo else None
        return self._json({"next": nxt, "prev": None, "results": rows})

    def _past_funding_json(self, name: str, sym: str, ts: int, rate: float, mark: float) -> dict[str, Any]:
        period = self.venue.market(sym).funding_interval_hours
        return {"market": name, "funding_index": "", "funding_premium": _fmt(round(rate * mark, 12)),
                "funding_rate": _fmt(round(rate, 14)), "funding_rate_8h": _fmt(round(rate * 8.0 / period, 14)),
                "funding_period_hours": int(period) if float(period).is_integer() else period, "created_at": ts}

    async def _trades(self, request: web.Request) -> web.Response:
        self._market(request.query.get("market"))
        return self._json({"next": None, "prev": None, "results": []})

    async def _onboarding_get(self, request: web.Request) -> web.Response:
        key = request.query.get("public_key", "")
        try:
            pub = int(key, 16)
        except ValueError:
            raise ParadexApiError("PUBLIC_KEY_INVALID", "public_key must be hex") from None
        addrs = [a for a, p in self._pubkeys.items() if p == pub]
        return self._json({"address": hex(addrs[0]) if addrs else "", "exists": bool(addrs),
                           "account_signer_type": "starknet", "derivation_info": None})

    async def _onboarding_post(self, request: web.Request) -> web.Response:
        account = self._header_int(request, "PARADEX-STARKNET-ACCOUNT", "INVALID_STARKNET_ADDRESS")
        sig = self._signature(request.headers.get("PARADEX-STARKNET-SIGNATURE", ""))
        try:
            body = json.loads(await request.text() or "{}")
            pub = int(str(body["public_key"]), 16)
        except (ValueError, KeyError, TypeError):
            raise ParadexApiError("PUBLIC_KEY_INVALID", "body needs public_key (hex)") from None
        h = signer.message_hash(self._domain(), "Constant", ("action",), {"action": "Onboarding"}, account)
        if not signer.verify(h, sig[0], sig[1], pub):
            raise ParadexApiError("STARKNET_SIGNATURE_VERIFICATION_FAILED", "onboarding signature does not verify", 401)
        self._pubkeys[account] = pub
        return self._json({})

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

    # -- private REST -----------------------------------------------------------------------------
    def _order_json(self, o: Order) -> dict[str, Any]:
        status = "UNTRIGGERED" if o.status == "untriggered" else "OPEN" if o.is_open else "CLOSED"
        reason = ""
        if o.status in ("canceled", "expired", "rejected"):
            reason = self._cancel_reason.get(o.id) or _REJECT_REASON.get(o.cancel_reason or "") or (
                "POST_ONLY_WOULD_CROSS" if o.tif == "post_only" and o.filled == 0 and o.type == "limit"
                else "IOC_CANCELED" if o.type == "market" or o.tif == "ioc" else "USER_CANCELED")
        out = {
            "account": o.account, "avg_fill_price": _fmt(o.avg_price) if o.filled else "", "client_id": o.client_id or "",
            "created_at": o.created_ms, "flags": ["REDUCE_ONLY"] if o.reduce_only else [], "id": order_id(o.id),
            "instruction": _TIF_BACK.get(o.tif, "GTC"), "last_updated_at": o.updated_ms, "market": self.names[o.symbol],
            "price": _fmt(o.price) if o.price is not None and o.type == "limit" else "0", "published_at": o.updated_ms,
            "received_at": o.created_ms, "remaining_size": _fmt(self.venue.markets[o.symbol].round_size(max(o.qty - o.filled, 0.0))),
            "seq_no": o.updated_ms * 1000, "side": "BUY" if o.side == "buy" else "SELL", "size": _fmt(o.qty),
            "status": status, "stp": "EXPIRE_TAKER", "timestamp": o.created_ms,
            "trigger_price": _fmt(o.trigger_price) if o.trigger_price else "",
            "type": self._stop_types.get(o.id, "STOP_MARKET") if o.type == "stop_market"
            else "LIMIT" if o.type == "limit" else "MARKET",
        }
        if reason:
            out["cancel_reason"] = reason
        return out

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.text() or "null")
        except ValueError:
            raise ParadexApiError("BINDING_ERROR", "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ParadexApiError("BINDING_ERROR", "request body must be a JSON object")
        return body

    async def _create_order(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        body = await self._body(request)
        name = body.get("market")
        sym = self._market(name if isinstance(name, str) else None)
        assert isinstance(name, str)  # _market raised otherwise
        side, otype = body.get("side"), body.get("type")
        if side not in ("BUY", "SELL"):
            raise ParadexApiError("VALIDATION_ERROR", "side must be BUY or SELL")
        if otype not in ("LIMIT", "MARKET", *_STOP_TYPES):
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", f"order type {otype!r} not supported")
        instr = body.get("instruction", "GTC")
        if instr not in _TIF:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", f"instruction {instr!r} not supported")
        size = schemas.dec(body.get("size"))
        price = schemas.dec(body.get("price")) if otype == "LIMIT" else None
        whole = otype == "STOP_LOSS_MARKET" and size == 0  # size 0: the whole position at trigger time
        if size is None or not size.is_finite() or (size <= 0 and not whole):
            raise ParadexApiError("INVALID_ORDER_SIZE", "size must be a positive decimal string")
        if otype == "LIMIT" and (price is None or not price.is_finite() or price <= 0):
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "a LIMIT order needs a positive price")
        flags = body.get("flags") or []
        if not isinstance(flags, list):
            raise ParadexApiError("BINDING_ERROR", "flags must be a list")
        cid = body.get("client_id") or None
        if cid is not None and not isinstance(cid, str):
            raise ParadexApiError("BINDING_ERROR", "client_id must be a string")
        if cid and any(o.client_id == cid for o in self.venue.open_orders(acct)):
            raise ParadexApiError("DUPLICATED_CLIENT_ID", f"client id {cid} already used by an open order")
        self._check_order_signature(acct, body, name, side, otype, size, price)
        if otype in _STOP_TYPES:
            return self._create_stop(acct, sym, body, side, otype, size, flags, cid)
        try:
            order = self.venue.place_order(
                acct, sym, side.lower(), float(size), order_type=otype.lower(),
                price=float(price) if price is not None else None, tif=_TIF[instr],
                reduce_only="REDUCE_ONLY" in flags, client_id=cid)
        except SimError as exc:
            reason = _REJECT_REASON.get(exc.kind)
            if reason is None:
                raise
            return self._json(self._rejected_order(acct, name, body, reason), status=201)
        out = self._order_json(order)
        out["status"] = "NEW"  # Paradex acknowledges before matching; a fetch shows the result
        out.pop("cancel_reason", None)
        out["remaining_size"] = out["size"]
        out["avg_fill_price"] = ""
        return self._json(out, status=201)

    def _create_stop(self, acct: str, sym: str, body: dict[str, Any], side: str, otype: str, size: Decimal,
                     flags: list[Any], cid: str | None) -> web.Response:
        """``STOP_MARKET`` / ``STOP_LOSS_MARKET`` (protocol §5): ``trigger_price`` required, compared
        with the mark price; ``REDUCE_ONLY`` mandatory for the stop-loss type (size 0 = the whole
        position); ``STOP_CONDITION_BELOW_TRIGGER`` / ``_ABOVE_`` set the direction (default: a
        sell fires on the way down, a buy on the way up). Acknowledged ``NEW``, then ``UNTRIGGERED``."""
        trigger = schemas.dec(body.get("trigger_price"))
        if trigger is None or not trigger.is_finite() or trigger <= 0:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", f"{otype} needs a positive trigger_price")
        reduce_only = "REDUCE_ONLY" in flags
        if otype == "STOP_LOSS_MARKET" and not reduce_only:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "REDUCE_ONLY flag is mandatory for TP/SL orders")
        above = (True if "STOP_CONDITION_ABOVE_TRIGGER" in flags
                 else False if "STOP_CONDITION_BELOW_TRIGGER" in flags else None)
        try:
            order = self.venue.conditional.place(
                acct, sym, side.lower(), float(size), float(trigger), trigger_by="mark", reduce_only=reduce_only,
                close_position=size == 0, trigger_above=above, client_id=cid)
        except SimError as exc:
            if exc.kind == "would_trigger":
                raise ParadexApiError("INVALID_REQUEST_PARAMETER",
                                      f"trigger_price {trigger} would trigger immediately: {exc.message}") from None
            if exc.kind == "invalid":
                raise ParadexApiError("INVALID_REQUEST_PARAMETER", exc.message) from None
            raise
        self._stop_types[order.id] = otype
        out = self._order_json(order)
        out["status"] = "NEW"
        return self._json(out, status=201)

    def _check_order_signature(self, acct: str, body: dict[str, Any], name: str, side: str, otype: str,
                               size: Decimal, price: Decimal | None) -> None:
        pub = self._pubkeys.get(int(acct, 16))
        ts = body.get("signature_timestamp")
        if pub is None or not isinstance(ts, int) or isinstance(ts, bool):
            raise ParadexApiError("INVALID_ORDER_SIGNATURE", "signature_timestamp (ms) missing", 401)
        sig = body.get("signature")
        if not isinstance(sig, str):
            raise ParadexApiError("INVALID_ORDER_SIGNATURE", "signature missing", 401)
        r, s = self._signature(sig)
        scale = Decimal(10) ** 8
        msg = {"timestamp": ts, "market": name, "side": "1" if side == "BUY" else "2", "orderType": otype,
               "size": int(size * scale), "price": int(price * scale) if price is not None else 0}
        try:
            h = signer.message_hash(self._domain(), "Order", _ORDER_FIELDS, msg, acct)
        except ValueError:
            raise ParadexApiError("INVALID_ORDER_SIGNATURE", "order fields cannot be signed") from None
        if not signer.verify(h, r, s, pub):
            raise ParadexApiError("INVALID_ORDER_SIGNATURE", "order signature does not verify", 401)

    def _rejected_order(self, acct: str, name: str, body: dict[str, Any], reason: str) -> dict[str, Any]:
        oid = order_id(900_000_000_000 + self._next_reject)
        self._next_reject += 1
        ms = now_ms()
        row = {"account": acct, "avg_fill_price": "", "cancel_reason": reason, "client_id": body.get("client_id") or "",
               "created_at": ms, "flags": body.get("flags") or [], "id": oid, "instruction": body.get("instruction", "GTC"),
               "last_updated_at": ms, "market": name, "price": str(body.get("price") or "0"), "published_at": ms,
               "received_at": ms, "remaining_size": str(body.get("size")), "seq_no": ms * 1000, "side": body.get("side"),
               "size": str(body.get("size")), "status": "CLOSED", "stp": "EXPIRE_TAKER", "timestamp": ms,
               "trigger_price": "", "type": body.get("type")}
        self._rejected.setdefault(acct, {})[oid] = row
        self._emit_private(acct, "orders", name, row)
        return row

    def _find(self, acct: str, request: web.Request) -> Order | dict[str, Any]:
        oid = request.match_info.get("order_id")
        cid = request.match_info.get("client_id")
        if oid is not None:
            row = self._rejected.get(acct, {}).get(oid)
            if row is not None:
                return row
            n = engine_order_id(oid)
            o = self.venue.find_order(acct, None, order_id=n) if n is not None else None
            if o is None:
                raise ParadexApiError("ORDER_ID_NOT_FOUND", f"order {oid} not found", 404)
            return o
        o = self.venue.find_order(acct, None, client_id=cid)
        if o is None:
            raise ParadexApiError("CLIENT_ORDER_ID_NOT_FOUND", f"client order id {cid} not found", 404)
        return o

    async def _get_order(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        o = self._find(acct, request)
        return self._json(o if isinstance(o, dict) else self._order_json(o))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        o = self._find(acct, request)
        if isinstance(o, dict) or not o.is_open:
            raise ParadexApiError("ORDER_IS_CLOSED", "order is closed")
        self._cancel_reason[o.id] = "USER_CANCELED"
        self.venue.cancel_order(acct, o.symbol, o.id)
        return web.Response(status=204)

    async def _cancel_all(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        sym = self._market(name) if name else None
        for o in self.venue.open_orders(acct, sym):
            self._cancel_reason[o.id] = "USER_CANCELED"
        self.venue.cancel_all(acct, sym)
        return web.Response(status=204)

    async def _open_orders(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        sym = self._market(name) if name else None
        return self._json({"results": [self._order_json(o) for o in self.venue.open_orders(acct, sym)]})

    async def _orders_history(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        sym = self._market(name) if name else None
        rows = [self._order_json(o) for o in self.venue.account(acct).orders.values() if sym is None or o.symbol == sym]
        rows += [r for r in self._rejected.get(acct, {}).values() if not name or r["market"] == name]
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return self._json({"next": None, "prev": None, "results": rows[: self._page_size(request, 100)]})

    @staticmethod
    def _page_size(request: web.Request, default: int) -> int:
        try:
            return max(1, min(int(request.query.get("page_size", default)), 5000))
        except ValueError:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "page_size must be an integer") from None

    @staticmethod
    def _window(request: web.Request) -> tuple[int, int]:
        try:
            return int(request.query.get("start_at", 0)), int(request.query.get("end_at", 1 << 62))
        except ValueError:
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "start_at/end_at must be ms integers") from None

    def _account_json(self, acct: str) -> dict[str, Any]:
        v = self.venue
        equity = v.equity(acct)
        im = v.initial_margin(acct)
        mm = im * 0.5
        return {"account": acct, "account_value": _fmt(round(equity, 8)), "free_collateral": _fmt(round(v.available_balance(acct), 8)),
                "initial_margin_requirement": _fmt(round(im, 8)), "maintenance_margin_requirement": _fmt(round(mm, 8)),
                "margin_cushion": _fmt(round(equity - mm, 8)), "total_collateral": _fmt(round(v.account(acct).balance, 8)),
                "settlement_asset": "USDC", "status": "ACTIVE", "seq_no": now_ms() * 1000, "updated_at": now_ms()}

    async def _account(self, request: web.Request) -> web.Response:
        return self._json(self._account_json(self._acct(request)))

    async def _balance(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        return self._json({"results": [{"token": "USDC", "size": _fmt(round(self.venue.account(acct).balance, 8)),
                                        "last_updated_at": now_ms()}]})

    def _position_json(self, acct: str, sym: str) -> dict[str, Any]:
        v = self.venue
        p = v.account(acct).position(sym)
        name = self.names[sym]
        mark = v.mark_price(sym)
        upnl = (mark - p.entry_price) * p.qty if p.qty else 0.0
        liq = v.liquidation_price(acct, sym) if p.qty else 0.0
        fills = [f for f in v.account(acct).fills if f.symbol == sym]
        return {
            "id": f"{acct}-{name}", "market": name, "status": "OPEN" if p.qty else "CLOSED",
            "side": "SHORT" if p.qty < 0 else "LONG", "size": _fmt(p.qty), "average_entry_price": _fmt(p.entry_price),
            "average_entry_price_usd": _fmt(p.entry_price), "realized_pnl": _fmt(round(p.realized_pnl, 8)),
            "unrealized_pnl": _fmt(round(upnl, 8)), "unrealized_funding_pnl": "0",
            "leverage": str(v.leverage(acct, sym)), "cost": _fmt(round(p.qty * p.entry_price, 8)),
            "cost_usd": _fmt(round(p.qty * p.entry_price, 8)), "cached_funding_index": _fmt(round(self._funding_index[sym], 12)),
            "created_at": fills[0].ts if fills else now_ms(), "last_updated_at": fills[-1].ts if fills else now_ms(),
            "last_fill_id": str(fills[-1].trade_id) if fills else "", "seq_no": now_ms() * 1000,
            "liquidation_price": _fmt(round(liq, 8)) if liq else "", "account": acct,
        }

    async def _positions(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        syms = [s for s in self.venue.account(acct).positions if s in self.names]
        return self._json({"results": [self._position_json(acct, s) for s in syms]})

    def _fill_json(self, f: Any, acct: str) -> dict[str, Any]:
        o = self.venue.account(acct).orders.get(f.order_id)
        return {"id": str(f.trade_id), "side": "BUY" if f.side == "buy" else "SELL", "liquidity": "MAKER" if f.maker else "TAKER",
                "market": self.names[f.symbol], "order_id": order_id(f.order_id), "price": _fmt(f.price), "size": _fmt(f.qty),
                "fee": _fmt(round(f.fee, 10)), "fee_currency": "USDC", "created_at": f.ts,
                "remaining_size": _fmt(o.remaining) if o is not None else "0",
                "client_id": (o.client_id or "") if o is not None else "",
                "fill_type": "LIQUIDATION" if f.system or (o is not None and o.system) else "FILL",
                "realized_pnl": _fmt(round(f.realized_pnl, 10)), "realized_funding": "0"}

    async def _fills(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        sym = self._market(name) if name else None
        start, end = self._window(request)
        rows = [self._fill_json(f, acct) for f in self.venue.account(acct).fills
                if (sym is None or f.symbol == sym) and start <= f.ts <= end]
        rows.reverse()
        return self._json({"next": None, "prev": None, "results": rows[: self._page_size(request, 100)]})

    async def _funding_payments(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        if name:
            self._market(name)
        start, end = self._window(request)
        rows = [r for r in self._payments.get(acct, []) if (not name or r["market"] == name) and start <= r["created_at"] <= end]
        rows = sorted(rows, key=lambda r: r["created_at"], reverse=True)
        return self._json({"next": None, "prev": None, "results": rows[: self._page_size(request, 100)]})

    async def _margin_get(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.query.get("market")
        syms = [self._market(name)] if name else list(self.names)
        return self._json({"account": acct, "configs": [
            {"market": self.names[s], "leverage": self.venue.leverage(acct, s), "margin_type": "CROSS",
             "isolated_margin_leverage": self.venue.leverage(acct, s)} for s in syms]})

    async def _margin_set(self, request: web.Request) -> web.Response:
        acct = self._acct(request)
        name = request.match_info["market"]
        sym = self._market(name)
        body = await self._body(request)
        lev, mtype = body.get("leverage"), body.get("margin_type", "CROSS")
        if isinstance(lev, str) and lev.isdigit():
            lev = int(lev)
        if not isinstance(lev, int) or isinstance(lev, bool):
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", "leverage must be an integer")
        if mtype != "CROSS":
            raise ParadexApiError("INVALID_REQUEST_PARAMETER", f"margin_type {mtype!r} not available on this market")
        self.venue.set_leverage(acct, sym, lev)
        return self._json({"account": acct, "market": name, "leverage": lev, "margin_type": "CROSS"})

    # -- engine events -> pushes ------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, BookEvent):
            self._on_book(ev)
        elif isinstance(ev, OrderEvent):
            name = self.names.get(ev.order.symbol)
            if name is None:
                return
            self._emit_private(ev.account, "orders", name, self._order_json(ev.order))
            if ev.fill is not None:
                self._emit_private(ev.account, "fills", name, self._fill_json(ev.fill, ev.account))
                self._emit_private(ev.account, "positions", name, self._position_json(ev.account, ev.order.symbol))
                self._emit_private(ev.account, "account", name, self._account_json(ev.account))
                f = ev.fill
                trade: dict[str, Any] = {"id": str(f.trade_id), "market": name, "side": "BUY" if f.side == "buy" else "SELL",
                         "size": _fmt(f.qty), "price": _fmt(f.price), "created_at": f.ts, "trade_type": "FILL"}
                for c in self._clients:
                    for ch in (f"trades.{name}", "trades.ALL"):
                        if ch in c.channels:
                            if c.sbe_version is not None:
                                c.send(encode_trade(name, f.trade_id, trade["side"], f.price, f.qty, f.ts * 1000,
                                                            trade["id"], c.sbe_version))
                            else:
                                c.send(_push(ch, trade))
        elif isinstance(ev, FundingEvent):
            p = ev.payment
            name = self.names.get(p.symbol)
            if name is None:
                return
            row = {"account": ev.account, "created_at": p.ts, "fill_id": "", "id": f"{p.ts}{len(self._payments.get(ev.account, [])):06d}",
                   "index": _fmt(round(self._funding_index[p.symbol], 12)), "market": name, "payment": _fmt(round(p.amount, 10))}
            self._payments.setdefault(ev.account, []).append(row)
            self._emit_private(ev.account, "funding_payments", name, row)

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

    def _on_book(self, ev: BookEvent) -> None:
        sym = ev.symbol
        if sym not in self._book:
            return
        b, a = self._book[sym]
        seq = self._seq[sym] + (2 if ev.prev_seq != self._engine_seq[sym] else 1)
        self._seq[sym] = seq
        self._engine_seq[sym] = ev.seq
        self._ts[sym] = ev.ts
        old_top = (max(b) if b else None, min(a) if a else None)
        ins: list[dict[str, str]] = []
        upd: list[dict[str, str]] = []
        dels: list[dict[str, str]] = []
        for side_name, levels, book in (("BUY", ev.bids, b), ("SELL", ev.asks, a)):
            for p, s in levels:
                row = {"side": side_name, "price": _fmt(p), "size": _fmt(s)}
                if s <= 0:
                    if book.pop(p, None) is not None:
                        dels.append(dict(row, size="0"))
                elif p in book:
                    book[p] = s
                    upd.append(row)
                else:
                    book[p] = s
                    ins.append(row)
        name = self.names[sym]
        delta = {"market": name, "update_type": "d", "seq_no": seq, "last_updated_at": ev.ts,
                 "inserts": ins, "updates": upd, "deletes": dels}
        malformed = self.venue.faults.take("malformed", sym)
        top_changed = old_top != (max(b) if b else None, min(a) if a else None) or bool(ev.bids or ev.asks)
        sbe_delta: bytes | None = None
        json_delta: str | None = None
        for c in self._clients:
            for ch in c.channels:
                if not ch.startswith("order_book.") or ch.split(".")[1] != name or ".deltas" not in ch:
                    continue
                if malformed:
                    c.send(b"\x59\x00\x03\x00\x01" if c.sbe_version is not None else '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"' + ch + '","data":{"market":')
                elif c.sbe_version is not None:
                    if sbe_delta is None:
                        sbe_delta = encode_book(name, seq, 1, ev.ts * 1000, [(p, s) for p, s in ev.bids],
                                                        [(p, s) for p, s in ev.asks])
                    c.send(sbe_delta)
                else:
                    if json_delta is None:
                        json_delta = _encode(_push(ch, delta)).decode()
                    c.send(json_delta)
            bbo_ch = f"bbo.{name}"
            if top_changed and bbo_ch in c.channels:
                self._send_bbo(c, name, sym)

    def _send_bbo(self, c: _WsClient, name: str, sym: str) -> None:
        if c.sbe_version is not None:
            bids, asks = self._sorted(sym, 1)
            c.send(encode_bbo(name, self._seq[sym], self._ts[sym] * 1000, bids[0] if bids else None,
                                      asks[0] if asks else None, c.sbe_version))
        else:
            c.send(_push(f"bbo.{name}", self._bbo_json(name, sym)))

    def _send_snapshot(self, c: _WsClient, ch: str, name: str, sym: str, depth: int | None) -> None:
        bids, asks = self._sorted(sym, depth)
        seq = self._seq[sym]
        if c.sbe_version is not None:
            c.send(encode_book(name, seq, 0, self._ts[sym] * 1000, bids, asks, c.sbe_version))
        else:
            c.send(_push(ch, {"seq_no": seq, "market": name, "last_updated_at": self._ts[sym], "update_type": "s",
                              "inserts": [{"side": "BUY", "price": _fmt(p), "size": _fmt(s)} for p, s in bids]
                              + [{"side": "SELL", "price": _fmt(p), "size": _fmt(s)} for p, s in asks],
                              "updates": [], "deletes": []}))
        c.snapshot_seq[ch] = seq

    def _send_funding(self, c: _WsClient, ch: str, name: str, sym: str) -> None:
        if c.sbe_version is not None:
            rate, rate8, period = self._rate(sym)
            c.send(encode_funding(name, self._seq[sym], now_ms() * 1000, rate, self._funding_index[sym],
                                          rate * self.venue.mark_price(sym), rate8, int(period), c.sbe_version))
        else:
            c.send(_push(ch, self._funding_json(name, sym)))

    def _send_summary(self, c: _WsClient, ch: str, name: str, sym: str) -> None:
        if c.sbe_version is not None:
            s = self._summary_json(name, sym)
            c.send(encode_summary(
                name, self._seq[sym], now_ms() * 1000, mark=float(s["mark_price"]), index=float(s["underlying_price"]),
                last=float(s["last_traded_price"]), volume_24h=float(s["volume_24h"]), open_interest=float(s["open_interest"]),
                funding_rate=float(s["funding_rate"]), bid=float(s["bid"]) if s["bid"] else None,
                ask=float(s["ask"]) if s["ask"] else None, total_volume=float(s["total_volume"]), version=c.sbe_version))
        else:
            c.send(_push(ch, self._summary_json(name, sym)))

    def _broadcast_periodic(self, ch: str, c: _WsClient) -> None:
        """Funding data / market summary pushes for one channel of one socket."""
        kind, _, rest = ch.partition(".")
        names = list(self.markets) if rest in ("", "ALL") else [rest]
        for name in names:
            sym = self.markets[name]
            if kind == "funding_data":
                self._send_funding(c, ch, name, sym)
            else:
                self._send_summary(c, ch, name, sym)

    async def _pump_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PUMP_SECONDS)
            try:
                if self.venue.faults.take("drop"):
                    for c in list(self._clients):
                        c.finish()  # the writer closes the socket
                if self.venue.faults.take("stall"):
                    for c in list(self._clients):
                        c.stall(STALL_SECONDS)
                self._accrue()
                now = loop.time()
                periodic = now >= self._summary_due
                if periodic:
                    self._summary_due = now + 1.0
                for c in list(self._clients):
                    for ch in list(c.channels):
                        if ch.startswith("order_book.") and ".snapshot@" in ch:
                            if now < c.snapshot_due.get(ch, 0.0):
                                continue
                            name = ch.split(".")[1]
                            sym = self.markets[name]
                            c.snapshot_due[ch] = now + _SNAPSHOT_RATES.get(ch.split("@")[2], 0.1)
                            if c.snapshot_seq.get(ch) != self._seq[sym]:
                                self._send_snapshot(c, ch, name, sym, SNAPSHOT_DEPTH)
                        elif periodic and (ch.startswith("funding_data") or ch.startswith("markets_summary")):
                            self._broadcast_periodic(ch, c)
            except Exception:  # noqa: BLE001 - keep pumping
                log.exception("%s emulator: pump failed", EXCHANGE)

    def _accrue(self) -> None:
        """Advance the continuous funding index: premium (rate × mark, USDC per unit per period)
        times elapsed periods (time scale applied)."""
        now = time.monotonic()
        dt = now - self._funding_at
        self._funding_at = now
        for sym in self._funding_index:
            period_s = self.venue.funding_period_ms(sym) / 1000.0
            self._funding_index[sym] += self.venue.funding_rate(sym) * self.venue.mark_price(sym) * dt / period_s

    # -- WebSocket ----------------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        sbe: int | None = None
        if "sbeSchemaId" in request.query or "sbeSchemaVersion" in request.query:
            sid, ver = request.query.get("sbeSchemaId"), request.query.get("sbeSchemaVersion", "")
            if sid != str(schemas.SCHEMA_ID) or not ver.isdigit() or int(ver) not in SBE_VERSIONS:
                return web.json_response({"error": "INVALID_REQUEST_PARAMETER",
                                          "message": f"unsupported SBE schema {sid}:{ver}", "data": None}, status=400)
            sbe = int(ver)
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _WsClient(ws, sbe)
        client.start()
        self._clients.add(client)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_ws_text(client, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    client.send(_rpc_error(None, -32700, "parse error", "binary requests are not accepted"))
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._clients.discard(client)
            client.finish()
            if client.task is not None:
                try:
                    await asyncio.wait_for(client.task, 2.0)
                except (TimeoutError, asyncio.CancelledError):
                    client.task.cancel()
        return ws

    def _on_ws_text(self, c: _WsClient, text: str) -> None:
        try:
            req = json.loads(text)
        except ValueError:
            c.send(_rpc_error(None, -32700, "parse error", "invalid JSON"))
            return
        if not isinstance(req, dict):
            c.send(_rpc_error(None, -32600, "invalid request", "request must be an object"))
            return
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params")
        if not isinstance(params, dict):
            params = {}
        if req.get("jsonrpc") != "2.0" or not isinstance(method, str):
            c.send(_rpc_error(rid, -32600, "invalid request", "jsonrpc 2.0 request with a method expected"))
            return
        if method == "auth":
            token = params.get("bearer")
            if not isinstance(token, str):
                c.send(_rpc_error(rid, 40110, "Malformed Bearer Token", "params.bearer missing"))
                return
            try:
                c.account = self._jwt_account(token)
            except ParadexApiError as exc:
                c.send(_rpc_error(rid, 40111, "Invalid Bearer Token", exc.message))
                return
            c.send({"jsonrpc": "2.0", "id": rid, "result": {"node_id": "5e1f0c2d9a7b3e41"}})
            return
        if method not in ("subscribe", "unsubscribe"):
            c.send(_rpc_error(rid, -32601, "method not found", method))
            return
        ch = params.get("channel")
        if not isinstance(ch, str) or not self._valid_channel(ch):
            c.send(_rpc_error(rid, -32600, f"invalid {method} request", "invalid channel"))
            return
        if method == "unsubscribe":
            if ch not in c.channels:
                c.send(_rpc_error(rid, -32600, "invalid unsubscribe request", "not subscribed to channel"))
                return
            c.channels.discard(ch)
            c.snapshot_seq.pop(ch, None)
            c.snapshot_due.pop(ch, None)
            self._ack(c, rid, ch)
            return
        if ch in c.channels:
            c.send(_rpc_error(rid, -32600, "invalid subscribe request", "already subscribed to channel"))
            return
        private = ch.startswith(_PRIVATE_PREFIXES) or ch in _PRIVATE_BARE
        if private and c.account is None:
            c.send(_rpc_error(rid, 40110, "Malformed Bearer Token", "authenticate before subscribing to private channels"))
            return
        c.channels.add(ch)
        self._ack(c, rid, ch)
        self._initial(c, ch)

    @staticmethod
    def _ack(c: _WsClient, rid: Any, ch: str) -> None:
        us = time.time_ns() // 1000
        out: dict[str, Any] = {"jsonrpc": "2.0", "result": {"channel": ch}, "usIn": us, "usDiff": 12}
        if rid is not None:
            out["id"] = rid
        c.send(out)

    def _valid_channel(self, ch: str) -> bool:
        parts = ch.split(".")
        head = parts[0]
        if head in ("markets_summary", "funding_data"):
            return len(parts) == 1 or (len(parts) == 2 and (parts[1] == "ALL" or parts[1] in self.markets))
        if head in ("positions", "account", "balance_events"):
            return len(parts) == 1
        if head in ("trades", "orders", "fills", "funding_payments"):
            return len(parts) == 2 and (parts[1] == "ALL" or parts[1] in self.markets)
        if head == "bbo":
            return len(parts) == 2 and parts[1] in self.markets
        if head == "order_book" and len(parts) >= 3 and parts[1] in self.markets:
            feed = ".".join(parts[2:]).split("@")
            if feed[0] == "deltas":
                return len(feed) == 1 or (len(feed) == 3 and feed[1] == "15" and feed[2] in _SNAPSHOT_RATES)
            if feed[0] == "snapshot":
                return len(feed) in (3, 4) and feed[1] == "15" and feed[2] in _SNAPSHOT_RATES
        return False

    def _initial(self, c: _WsClient, ch: str) -> None:
        parts = ch.split(".")
        if parts[0] == "order_book":
            name = parts[1]
            sym = self.markets[name]
            if ".deltas" in ch:
                self._send_snapshot(c, ch, name, sym, None)  # full depth, then deltas
            else:
                self._send_snapshot(c, ch, name, sym, SNAPSHOT_DEPTH)
                c.snapshot_due[ch] = asyncio.get_running_loop().time() + 0.1
        elif parts[0] == "bbo":
            self._send_bbo(c, parts[1], self.markets[parts[1]])
        elif parts[0] in ("funding_data", "markets_summary"):
            self._broadcast_periodic(ch, c)
        elif parts[0] == "account" and c.account:
            c.send(_push("account", self._account_json(c.account)))
