"""Lighter's wire dialect over the venue-agnostic engine (:class:`perpdex.sim.engine.Venue`).

Serves the REST API under ``/api/v1/`` and the WebSocket ``/stream`` as described in
``docs/exchanges/lighter.md`` closely enough that unmodified ccxt 4.5.90
(``async_support.lighter`` and ``pro.lighter``) and our native client trade against it:

* market ids come from the scenario's ``market_id``; ``price_decimals``/``size_decimals`` from
  the tick and lot; margin fractions in units of 0.01 % from the max leverage;
* ``POST /api/v1/sendTx`` takes form fields (urlencoded **or** multipart) ``tx_type`` and
  ``tx_info`` (signed JSON; integers scaled by the market decimals; signatures are not checked);
  tx types 14 create, 15 cancel, 16 cancel all, 17 modify, 20 update leverage, and 8 / 45
  (key registration / integrator approval, accepted as no-ops);
* ``order_book/<id>``: a full snapshot, then deltas batched every 50 ms with ``offset``,
  ``nonce`` and ``begin_nonce`` == the previous ``nonce`` (an engine gap breaks that chain);
* funding: the scenario's Lighter rates are fractions per 1 h interval; ``market_stats`` quotes
  them in **percent per hour** (4 decimals), ``funding-rates`` as a **fraction per 8 h**.

Engine accounts are keyed by ``str(account_index)``; engine order ``n`` is Lighter order index
``2**48 + n``. Engine ``SimError`` kinds map to Lighter codes (:data:`ERROR_CODES`).
Faults: ``http429`` -> HTTP 429 code 23000, ``delay`` -> the next REST answer waits 1 s,
``malformed`` -> a truncated ``order_book`` frame, ``drop`` -> every socket is closed,
``stall`` -> every socket's frames are held back for 2 s (then delivered in order); on the
account channels ``dup`` sends the next ``account_all_trades`` fill frame twice and ``user_drop``
loses it and closes the socket. Private channels: ``account_all_orders``, ``account_all_trades``,
``account_all_positions``, ``notification`` (liquidation / deleverage items for engine system
fills, whose trades carry ``type`` liquidation / deleverage), ``user_stats``, ``account_all``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from ....aio import cancel_and_wait
from ....exchanges.lighter.signer import SIM_ACCOUNT_INDEX, SIM_API_KEY_INDEX, SIM_API_PRIVATE_KEY, find_signer_library
from ...engine import (
    BookEvent,
    Event,
    FundingEvent,
    FundingRateEvent,
    MarketSpec,
    Order,
    OrderEvent,
    SimError,
    Venue,
    now_ms,
)
from ...wsqueue import STALL_SECONDS, QueuedSocket

log = logging.getLogger(__name__)

EXCHANGE = "lighter"
ORDER_INDEX_BASE = 1 << 48  # engine order n <-> Lighter order index 2**48 + n
SYNTHETIC_INDEX_BASE = 1 << 50  # order indexes of the synthetic market makers' L3 rows
MAKER_ACCOUNT = 1  # owner of the synthetic liquidity
SPOT_MARKET_ID = 2048
BATCH_SECONDS = 0.05
STATS_EVERY = 20  # pump ticks between market_stats pushes (1 s)
PING_EVERY = 600  # pump ticks between server pings (30 s)
MAX_QUEUE = 20_000  # frames queued for one socket before it is dropped as too slow

# SimError.kind -> (code, message prefix) in Lighter's 21xxx ranges (protocol doc §5.11).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid": (21706, "invalid order base or quote amount"),
    "margin": (21739, "not enough margin to create the order"),
    "not_found": (21600, "given order is not an active limit order"),
    "reduce_only": (21732, "reduce only increases position"),
    "rejected": (21737, "invalid order status"),
}
#: engine system fills (Venue.liquidate) -> Lighter trade ``type`` (protocol doc §6)
_TRADE_TYPES = {"liquidation": "liquidation", "adl": "deleverage"}
#: market-style conditional order types (protocol §5): 2 stop-loss, 4 take-profit
_TRIGGER_TYPES = {2: "stop-loss", 4: "take-profit"}
CODE_RATE_LIMIT = 23000
CODE_INVALID_PARAM = 20001
FUNDINGS_MAX = 750  # rows per ``fundings`` answer (protocol doc §3.5)
CODE_INVALID_AUTH = 20013
CODE_INVALID_TX_INFO = 21501
CODE_UNSUPPORTED_TX = 21505
CODE_INVALID_MARKET = 21602
CODE_INVALID_MARGIN_MODE = 21613
CODE_INVALID_PRICE = 21702
CODE_INVALID_BASE = 21701
CODE_INVALID_TYPE = 21704
CODE_INVALID_TIF = 21705
CODE_CLIENT_INDEX_EXISTS = 21728
CODE_INVALID_NONCE = 21104

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

_TIF_NAMES = {"ioc": "immediate-or-cancel", "gtc": "good-till-time", "post_only": "post-only", "fok": "immediate-or-cancel"}


class LighterApiError(Exception):
    """A Lighter-shaped error answer: HTTP ``status`` with ``{"code": code, "message": msg}``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _sim_error(exc: SimError) -> LighterApiError:
    code, text = ERROR_CODES.get(exc.kind, (21737, "invalid order status"))
    if exc.kind == "invalid" and "price" in exc.message:
        code, text = CODE_INVALID_PRICE, "invalid price"
    return LighterApiError(code, f"{text}: {exc.message}")


def sim_l1_address(account_index: int) -> str:
    """The deterministic fake L1 address of an emulated account."""
    return "0x" + hashlib.sha256(f"lighter-sim:{account_index}".encode()).hexdigest()[:40]


# --------------------------------------------------------------------------------------------------
# WebSocket clients
# --------------------------------------------------------------------------------------------------
class _WsClient(QueuedSocket):
    """One connected socket (bounded send queue + writer task) and its subscriptions."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        super().__init__(ws, EXCHANGE, MAX_QUEUE)
        self.books: dict[str, int] = {}  # symbol -> nonce of the snapshot it was sent
        self.channels: set[str] = set()  # every subscribed channel, as subscribed ("a/b/c")

    def send(self, frame: dict[str, Any] | str) -> None:
        self.push(frame if isinstance(frame, str) else _encode(frame))


class _Batch:
    __slots__ = ("begin", "nonce", "bids", "asks")

    def __init__(self, begin: int) -> None:
        self.begin = begin
        self.nonce = begin
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}


def _channel_id(channel: str) -> str:
    """Subscribe form ``name/a[/b]`` -> the server's ``name:a`` (§0 item 1)."""
    parts = channel.split("/")
    return f"{parts[0]}:{parts[1]}" if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------------------------------
# The dialect
# --------------------------------------------------------------------------------------------------
class LighterEmulator:
    """Lighter's REST + WebSocket protocol over one :class:`Venue` (see module docstring)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.by_id: dict[int, MarketSpec] = {m.market_id: m for m in venue.markets.values()}
        self._clients: set[_WsClient] = set()
        self._pending: dict[str, _Batch] = {}
        self._last_nonce: dict[str, int] = {s: venue.sequence(s) for s in venue.markets}
        self._settled: dict[str, tuple[float, int]] = {}  # symbol -> (rate per interval, ms)
        self._offset = 41_692_800
        self._nonces: dict[tuple[int, int], int] = {}
        self._seen_tx: deque[tuple[int, int, int]] = deque(maxlen=10_000)
        self._seen_set: set[tuple[int, int, int]] = set()
        self._skip_nonces: dict[tuple[int, int], int] = {}  # (account, key) -> last skip-nonce accepted
        self._order_meta: dict[int, tuple[int, int]] = {}  # engine order id -> (nonce, expiry ms)
        self._trigger_types: dict[int, str] = {}  # engine order id -> "stop-loss" | "take-profit"
        self._unbooked: dict[str, dict[int, Order]] = {}  # account -> expired post-only orders
        self._block = itertools.count(102_000_000)
        self._pump: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = venue.subscribe(self._on_event)

    # -- wiring -----------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """The aiohttp application: REST under ``/api/v1/``, ``GET /``, ``GET /info`` and the
        WebSocket ``/stream``."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        get = {
            "orderBookDetails": self._order_book_details,
            "orderBooks": self._order_books,
            "assetDetails": self._asset_details,
            "orderBookOrders": self._order_book_orders,
            "funding-rates": self._funding_rates,
            "fundings": self._fundings,
            "exchangeStats": self._exchange_stats,
            "recentTrades": self._recent_trades,
            "account": self._account,
            "accountsByL1Address": self._accounts_by_l1,
            "accountLimits": self._account_limits,
            "accountActiveOrders": self._active_orders,
            "accountInactiveOrders": self._inactive_orders,
            "accountOrders": self._account_orders,
            "trades": self._trades,
            "positionFunding": self._position_funding,
            "nextNonce": self._next_nonce,
            "apikeys": self._apikeys,
        }
        app.router.add_get("/", self._wrap(self._status))
        app.router.add_get("/info", self._wrap(self._info))
        for path, fn in get.items():
            app.router.add_get(f"/api/v1/{path}", self._wrap(fn))
        app.router.add_post("/api/v1/sendTx", self._wrap(self._send_tx))
        app.router.add_post("/api/v1/sendTxBatch", self._wrap(self._send_tx_batch))
        app.router.add_get("/stream", self._ws_handler)
        app.router.add_route("*", "/api/v1/{tail:.*}", self._wrap(self._unknown))
        app.on_startup.append(self._on_startup)
        return app

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """``{"rest_url", "ws_url", "ccxt", "credentials"}``. ``ccxt`` is the constructor config
        with which unmodified ``ccxt.async_support.lighter``/``ccxt.pro.lighter`` trade here
        (Flow A of protocol doc §7.2: pre-seeded API key, no L1 key); ``credentials`` is the same
        account for :class:`LighterClient` (``account_index``, ``api_key_index``,
        ``api_private_key``). The key is a sim-only key."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}/stream"
        acct, idx = str(SIM_ACCOUNT_INDEX), str(SIM_API_KEY_INDEX)
        try:
            library: str | None = find_signer_library()
        except RuntimeError as exc:
            log.warning("%s emulator: %s; ccxt cannot sign against it", EXCHANGE, exc)
            library = None
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "urls": {"api": {"root": rest, "public": rest, "private": rest, "ws": ws}},
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {
                    "accountIndex": SIM_ACCOUNT_INDEX,
                    "apiKeyIndex": SIM_API_KEY_INDEX,
                    # absent when lighter-sdk is missing: the client then refuses at connect with the fix
                    **({"libraryPath": library} if library else {}),
                    "builderFee": False,
                    "chainId": 304,
                    "auths": {acct: {idx: {"signer": None, "lighterPrivateKey": SIM_API_PRIVATE_KEY,
                                           "deadline": None, "token": None}}},
                },
            },
            "credentials": {
                "account_index": SIM_ACCOUNT_INDEX,
                "api_key_index": SIM_API_KEY_INDEX,
                "api_private_key": SIM_API_PRIVATE_KEY,
            },
        }

    async def _on_startup(self, app: web.Application) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._pump_loop(), name="lighter-emulator-pump")

    async def close(self) -> None:
        """Stop pushing, close every socket, detach from the venue."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_and_wait(self._pump)
        self._pump = None
        for c in list(self._clients):
            c.finish()
            try:
                await asyncio.wait_for(c.ws.close(), 1.0)
            except Exception:  # noqa: BLE001 - shutting down
                pass
            if c.task is not None:
                c.task.cancel()
        self._clients.clear()

    # -- formatting -----------------------------------------------------------------------------------
    def _market_by_id(self, market_id: int) -> MarketSpec:
        m = self.by_id.get(market_id)
        if m is None:
            raise LighterApiError(CODE_INVALID_MARKET, "invalid market index")
        return m

    @staticmethod
    def _px(m: MarketSpec, price: float) -> str:
        return f"{price:.{m.price_decimals}f}"

    @staticmethod
    def _sz(m: MarketSpec, size: float) -> str:
        return f"{size:.{m.size_decimals}f}"

    def _hourly(self, symbol: str) -> float:
        m = self.venue.market(symbol)
        return self.venue.funding_rate(symbol) / m.funding_interval_hours

    def _percent_per_hour(self, rate_per_interval: float, m: MarketSpec) -> str:
        return f"{rate_per_interval / m.funding_interval_hours * 100:.4f}"

    def _default_imf(self, m: MarketSpec) -> int:
        return 10_000 // min(self.venue.default_leverage, m.max_leverage)

    def _detail(self, m: MarketSpec) -> dict[str, Any]:
        v = self.venue
        mark = v.mark_price(m.symbol)
        idx = v.index_price(m.symbol)
        vol = m.volume_24h_usd
        return {
            "symbol": m.exchange_base, "market_id": m.market_id, "market_type": "perp",
            "base_asset_id": 0, "quote_asset_id": 3,
            "status": "active" if m.active else "inactive",
            "taker_fee": f"{m.taker_fee * 100:.4f}", "maker_fee": f"{m.maker_fee * 100:.4f}",
            "liquidation_fee": "1.0000",
            "min_base_amount": self._sz(m, float(m.min_size)), "min_quote_amount": f"{float(m.min_notional):.6f}",
            "order_quote_limit": "",
            "supported_size_decimals": m.size_decimals, "supported_price_decimals": m.price_decimals,
            "supported_quote_decimals": 6, "size_decimals": m.size_decimals, "price_decimals": m.price_decimals,
            "quote_multiplier": 1,
            "default_initial_margin_fraction": self._default_imf(m),
            "min_initial_margin_fraction": 10_000 // m.max_leverage,
            "maintenance_margin_fraction": 5_000 // m.max_leverage,
            "closeout_margin_fraction": 10_000 // (3 * m.max_leverage),
            "last_trade_price": round(mark, m.price_decimals),
            "daily_trades_count": int(vol / 5_000),
            "daily_base_token_volume": round(vol / mark, m.size_decimals) if mark else 0.0,
            "daily_quote_token_volume": round(vol, 6),
            "daily_price_low": round(mark * 0.98, m.price_decimals),
            "daily_price_high": round(mark * 1.02, m.price_decimals),
            "daily_price_change": 0.5,
            "open_interest": round(m.open_interest_usd / mark, m.size_decimals) if mark else 0.0,
            "daily_chart": {},
            "market_config": {"market_margin_mode": 0, "insurance_fund_account_index": 281474976710655,
                              "liquidation_mode": 0, "force_reduce_only": False, "trading_hours": "",
                              "hidden": False, "rfq_enabled": False},
            "strategy_index": 0, "is_maker_fee_enabled": m.maker_fee != 0, "is_taker_fee_enabled": m.taker_fee != 0,
            "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000", "base_interest_rate": "0.0000",
            "created_at": 1_735_689_600, "mark_price": self._px(m, mark), "index_price": self._px(m, idx),
            "multiplier": 1,
        }

    def _spot_detail(self) -> dict[str, Any] | None:
        eth = self.venue.markets.get("ETH")
        if eth is None:
            return None
        mark = self.venue.mark_price("ETH")
        return {
            "symbol": "ETH/USDC", "market_id": SPOT_MARKET_ID, "market_type": "spot", "base_asset_id": 1,
            "quote_asset_id": 3, "status": "active", "taker_fee": "0.0000", "maker_fee": "0.0000",
            "liquidation_fee": "0.0000", "min_base_amount": "0.0001", "min_quote_amount": "0.000001",
            "order_quote_limit": "2500000.000000", "supported_size_decimals": 4, "supported_price_decimals": 2,
            "supported_quote_decimals": 6, "size_decimals": 4, "price_decimals": 2,
            "last_trade_price": round(mark, 2), "daily_trades_count": 126993, "daily_base_token_volume": 1203.0962,
            "daily_quote_token_volume": 3516374.947553, "daily_price_low": round(mark * 0.98, 2),
            "daily_price_high": round(mark * 1.02, 2), "daily_price_change": -1.2, "daily_chart": {},
        }

    def _market_stats(self, m: MarketSpec) -> dict[str, Any]:
        v = self.venue
        mark = v.mark_price(m.symbol)
        settled_rate, settled_ts = self._settled.get(m.symbol, (v.funding_rate(m.symbol), 0))
        vol = m.volume_24h_usd
        return {
            "symbol": m.exchange_base, "market_id": m.market_id,
            "index_price": self._px(m, v.index_price(m.symbol)), "mark_price": self._px(m, mark),
            "open_interest": f"{m.open_interest_usd:.6f}", "open_interest_limit": "72057594037927936.000000",
            "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000",
            "last_trade_price": self._px(m, mark),
            "current_funding_rate": self._percent_per_hour(v.funding_rate(m.symbol), m),
            "funding_rate": self._percent_per_hour(settled_rate, m), "funding_timestamp": settled_ts,
            "daily_base_token_volume": round(vol / mark, m.size_decimals) if mark else 0.0,
            "daily_quote_token_volume": round(vol, 6),
            "daily_price_low": round(mark * 0.98, m.price_decimals), "daily_price_high": round(mark * 1.02, m.price_decimals),
            "daily_price_change": 0.5,
        }

    def _order_json(self, o: Order) -> dict[str, Any]:
        m = self.venue.market(o.symbol)
        idx = ORDER_INDEX_BASE + o.id
        client = int(o.client_id) if o.client_id and o.client_id.isdigit() else 0
        price = o.price if o.price is not None else 0.0
        nonce, expiry = self._order_meta.get(o.id, (0, 0))
        if o.status == "untriggered":
            status = "pending"
        elif o.status in ("new", "partially_filled"):
            status = "open"
        elif o.status == "expired" and o.cancel_reason == "reduce_only":
            status = "canceled-reduce-only"
        elif o.status == "filled":
            status = "filled"
        elif o.status == "expired" and o.tif == "post_only":
            status = "canceled-post-only"
        elif o.status in ("expired", "canceled") and (o.type == "market" or o.tif in ("ioc", "fok")):
            status = "canceled-too-much-slippage" if o.filled == 0 else "canceled-not-enough-liquidity"
        else:
            status = "canceled"
        return {
            "order_index": idx, "client_order_index": client, "order_id": str(idx), "client_order_id": str(client),
            "market_index": m.market_id, "owner_account_index": int(o.account) if o.account.isdigit() else 0,
            "initial_base_amount": self._sz(m, o.qty), "price": self._px(m, price), "nonce": nonce,
            "remaining_base_amount": self._sz(m, o.remaining if o.is_open else 0.0),
            "is_ask": o.side == "sell", "base_size": round(o.qty * 10 ** m.size_decimals),
            "base_price": round(price * 10 ** m.price_decimals),
            "filled_base_amount": self._sz(m, o.filled), "filled_quote_amount": f"{o.cost:.6f}",
            "side": "", "type": "liquidation" if o.system else self._trigger_types.get(o.id, o.type),
            "time_in_force": _TIF_NAMES.get(o.tif, "good-till-time") if o.type != "stop_market" else "immediate-or-cancel",
            "reduce_only": o.reduce_only, "trigger_price": self._px(m, o.trigger_price or 0.0), "order_expiry": expiry,
            "status": status, "trigger_status": "mark-price" if o.status == "untriggered" else "na",
            "trigger_time": (o.triggered_ms or 0) // 1000, "parent_order_index": 0,
            "parent_order_id": "0", "to_trigger_order_id_0": "0", "to_trigger_order_id_1": "0",
            "to_cancel_order_id_0": "0", "block_height": 102_000_000 + o.id,
            "timestamp": o.created_ms // 1000, "created_at": o.created_ms // 1000, "updated_at": o.updated_ms // 1000,
            "transaction_time": o.updated_ms * 1000, "market_symbol": m.exchange_base, "market_kind": "perp",
            "integrator_fee_collector_index": 0, "integrator_maker_fee": 0, "integrator_taker_fee": 0,
            "order_flags": 0, "order_version": 0,
        }

    def _trade_json(self, account: str, fill: Any) -> dict[str, Any]:
        m = self.venue.market(fill.symbol)
        me = int(account) if account.isdigit() else 0
        own = ORDER_INDEX_BASE + fill.order_id
        other = SYNTHETIC_INDEX_BASE + fill.trade_id
        i_am_ask = fill.side == "sell"
        is_maker_ask = (i_am_ask and fill.maker) or (not i_am_ask and not fill.maker)
        fee_rate = m.maker_fee if fill.maker else m.taker_fee
        order = self.venue.account(account).orders.get(fill.order_id)
        system = fill.system or (order.system if order is not None else None)
        row = {
            "trade_id": fill.trade_id, "tx_hash": hashlib.sha256(f"{fill.trade_id}".encode()).hexdigest(),
            "type": _TRADE_TYPES.get(system or "", "trade"), "market_id": m.market_id, "size": self._sz(m, fill.qty), "price": self._px(m, fill.price),
            "usd_amount": f"{fill.qty * fill.price:.6f}",
            "ask_id": own if i_am_ask else other, "bid_id": other if i_am_ask else own,
            "ask_client_id": 0, "bid_client_id": 0,
            "ask_account_id": me if i_am_ask else MAKER_ACCOUNT, "bid_account_id": MAKER_ACCOUNT if i_am_ask else me,
            "is_maker_ask": is_maker_ask, "block_height": 102_000_000 + fill.trade_id, "timestamp": fill.ts,
        }
        if fee_rate:
            row["maker_fee" if fill.maker else "taker_fee"] = round(fee_rate * 1_000_000)
        return row

    def _account_json(self, account_index: int) -> dict[str, Any]:
        v = self.venue
        aid = str(account_index)
        acct = v.account(aid)
        positions = []
        for sym in sorted(set(acct.positions) | set(acct.leverage), key=lambda s: v.market(s).market_id):
            m = v.market(sym)
            pos = acct.position(sym)
            mark = v.mark_price(sym)
            lev = v.leverage(aid, sym)
            opens = len(v.open_orders(aid, sym))
            positions.append({
                "market_id": m.market_id, "symbol": m.exchange_base, "initial_margin_fraction": f"{100 / lev:.2f}",
                "open_order_count": opens, "pending_order_count": 0, "position_tied_order_count": 0,
                "sign": 1 if pos.qty > 0 else (-1 if pos.qty < 0 else 0),
                "position": self._sz(m, abs(pos.qty)), "avg_entry_price": self._px(m, pos.entry_price),
                "position_value": f"{abs(pos.qty) * mark:.6f}",
                "unrealized_pnl": f"{v.unrealized_pnl(aid, sym):.6f}", "realized_pnl": f"{pos.realized_pnl:.6f}",
                "liquidation_price": repr(v.liquidation_price(aid, sym)),
                "total_funding_paid_out": f"{-pos.funding:.6f}", "margin_mode": 0, "allocated_margin": "0.000000",
                "total_discount": "0.000000", "margin_set_flag": 0,
            })
        equity = v.equity(aid)
        return {
            "code": 0, "account_type": 0, "index": account_index, "l1_address": sim_l1_address(account_index),
            "cancel_all_time": 0, "total_order_count": len(v.open_orders(aid)),
            "total_isolated_order_count": 0, "pending_order_count": 0,
            "available_balance": f"{v.available_balance(aid):.6f}", "status": 1,
            "collateral": f"{acct.balance:.6f}", "account_index": account_index, "name": "", "description": "",
            "can_invite": True, "referral_points_percentage": "", "positions": positions,
            "assets": [{"symbol": "USDC", "asset_id": 3, "balance": f"{acct.balance:.6f}", "locked_balance": "0.000000"}],
            "total_asset_value": f"{equity:.6f}", "cross_asset_value": f"{equity:.6f}", "shares": [],
        }

    def _user_stats(self, aid: str) -> dict[str, Any]:
        v = self.venue
        acct = v.account(aid)
        equity = v.equity(aid)
        notional = sum(abs(p.qty) * v.mark_price(s) for s, p in acct.positions.items() if p.qty)
        avail = v.available_balance(aid)
        im = v.initial_margin(aid)
        stats = {
            "collateral": f"{acct.balance:.6f}", "portfolio_value": f"{equity:.6f}",
            "leverage": f"{notional / equity if equity > 0 else 0.0:.2f}", "available_balance": f"{avail:.6f}",
            "margin_usage": f"{im / equity if equity > 0 else 0.0:.2f}",
            "buying_power": f"{avail * v.default_leverage:.6f}",
        }
        return {**stats, "cross_stats": dict(stats), "total_stats": dict(stats)}

    # -- REST plumbing ------------------------------------------------------------------------------
    def _wrap(self, fn: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            faults = self.venue.faults
            if faults.take("delay"):
                await asyncio.sleep(1.0)
            try:
                if faults.take("http429"):
                    raise LighterApiError(CODE_RATE_LIMIT, "Too Many Requests!", status=429)
                body = await fn(request)
                status = 200
            except LighterApiError as exc:
                body, status = {"code": exc.code, "message": exc.message}, exc.status
            except SimError as exc:
                err = _sim_error(exc)
                body, status = {"code": err.code, "message": err.message}, err.status
            except Exception:  # noqa: BLE001 - bad input never kills the emulator
                log.exception("%s emulator: %s %s failed", EXCHANGE, request.method, request.path)
                body, status = {"code": 29500, "message": "internal server error"}, 500
            return web.Response(body=_encode(body), status=status, content_type="application/json")

        return handler

    @staticmethod
    def _int(request: web.Request, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            if default is None:
                raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name} is required")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}={raw!r} is not an integer") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}={value} out of range [{lo}, {hi}]")
        return value

    @staticmethod
    def _check_auth(token: str | None, account_index: int) -> None:
        """Accept ``{deadline_s}:{account}:{api_key}:{hex}`` with deadline > now, or a read-only
        ``ro:{account}:...`` token, for ``account_index`` (protocol doc §5.7)."""
        if not token:
            raise LighterApiError(CODE_INVALID_AUTH, "invalid auth: missing token", status=400)
        parts = token.split(":")
        try:
            if parts[0] == "ro":
                owner = int(parts[1])
            else:
                deadline, owner = int(parts[0]), int(parts[1])
                if deadline <= time.time():
                    raise LighterApiError(CODE_INVALID_AUTH, "invalid auth: token expired")
        except (IndexError, ValueError):
            raise LighterApiError(CODE_INVALID_AUTH, "invalid auth: malformed token") from None
        if owner != account_index:
            raise LighterApiError(CODE_INVALID_AUTH, "invalid auth: token is for another account")

    def _auth(self, request: web.Request, account_index: int) -> None:
        token = request.headers.get("Authorization") or request.query.get("auth")
        self._check_auth(token, account_index)

    # -- public REST --------------------------------------------------------------------------------
    async def _status(self, request: web.Request) -> dict[str, Any]:
        return {"status": "1", "network_id": "1", "timestamp": str(int(time.time()))}

    async def _info(self, request: web.Request) -> dict[str, Any]:
        return {"code": 200, "contract_address": "0x3B4D794a66304F130a4Db8F2551B0070dfCf5ca7",
                "timestamp": int(time.time())}

    async def _unknown(self, request: web.Request) -> dict[str, Any]:
        raise LighterApiError(29404, f"not found: {request.path}", status=404)

    def _filtered_markets(self, request: web.Request) -> list[MarketSpec]:
        mid = self._int(request, "market_id", default=-1)
        markets = sorted(self.venue.markets.values(), key=lambda m: m.market_id)
        if mid >= 0 and mid != SPOT_MARKET_ID:
            return [self._market_by_id(mid)]
        return markets if mid < 0 else []

    async def _order_book_details(self, request: web.Request) -> dict[str, Any]:
        mid = self._int(request, "market_id", default=-1)
        perps = [self._detail(m) for m in self._filtered_markets(request)]
        spot = self._spot_detail()
        spots = [spot] if spot is not None and mid in (-1, SPOT_MARKET_ID) else []
        return {"code": 200, "order_book_details": perps, "spot_order_book_details": spots}

    async def _order_books(self, request: web.Request) -> dict[str, Any]:
        keys = ("symbol", "market_id", "market_type", "status", "taker_fee", "maker_fee", "liquidation_fee",
                "min_base_amount", "min_quote_amount", "order_quote_limit", "supported_size_decimals",
                "supported_price_decimals", "supported_quote_decimals")
        books = [{k: d[k] for k in keys} for d in (self._detail(m) for m in self._filtered_markets(request))]
        return {"code": 200, "order_books": books}

    async def _asset_details(self, request: web.Request) -> dict[str, Any]:
        assets = [
            {"asset_id": 3, "symbol": "USDC", "l1_decimals": 6, "decimals": 6, "min_transfer_amount": "1.000000",
             "min_withdrawal_amount": "1.000000", "margin_mode": "enabled", "index_price": "1.000000",
             "l1_address": "0x95Fd23d5110f9D89A4b0B7d63D78F5B5Ea5074D1"},
        ]
        if "ETH" in self.venue.markets:
            assets.append({"asset_id": 1, "symbol": "ETH", "l1_decimals": 18, "decimals": 8,
                           "min_transfer_amount": "0.00100000", "min_withdrawal_amount": "0.00100000",
                           "margin_mode": "disabled", "index_price": self._px(self.venue.market("ETH"), self.venue.index_price("ETH")),
                           "l1_address": "0x0000000000000000000000000000000000000000"})
        return {"code": 200, "asset_details": assets}

    async def _order_book_orders(self, request: web.Request) -> dict[str, Any]:
        mid = self._int(request, "market_id")
        limit = self._int(request, "limit", lo=1, hi=250)
        if mid == SPOT_MARKET_ID:
            return {"code": 200, "total_asks": 0, "asks": [], "total_bids": 0, "bids": []}
        m = self._market_by_id(mid)
        bids, asks = self.venue.book(m.symbol)
        user: dict[tuple[str, float], list[Order]] = {}
        for aid in list(self.venue.accounts):
            for o in self.venue.open_orders(aid, m.symbol):
                if o.price is not None:
                    user.setdefault((o.side, o.price), []).append(o)
        expiry = now_ms() + 28 * 86_400_000

        def rows(levels: list[tuple[float, float]], side: str) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for price, size in levels:
                rest = size
                for o in sorted(user.get((side, price), []), key=lambda o: o.id):
                    idx = ORDER_INDEX_BASE + o.id
                    out.append({"order_index": idx, "order_id": str(idx),
                                "owner_account_index": int(o.account) if o.account.isdigit() else 0,
                                "initial_base_amount": self._sz(m, o.qty), "remaining_base_amount": self._sz(m, o.remaining),
                                "price": self._px(m, price), "order_expiry": expiry, "transaction_time": o.created_ms * 1000})
                    rest -= o.remaining
                rest = m.round_size(rest)
                if rest > 0:
                    idx = SYNTHETIC_INDEX_BASE + (1 << 40) * (side == "buy") + round(price * 10 ** m.price_decimals)
                    out.append({"order_index": idx, "order_id": str(idx), "owner_account_index": MAKER_ACCOUNT,
                                "initial_base_amount": self._sz(m, rest), "remaining_base_amount": self._sz(m, rest),
                                "price": self._px(m, price), "order_expiry": expiry, "transaction_time": now_ms() * 1000})
                if len(out) >= limit:
                    break
            return out[:limit]

        a, b = rows(asks, "sell"), rows(bids, "buy")
        return {"code": 200, "total_asks": len(a), "asks": a, "total_bids": len(b), "bids": b}

    async def _funding_rates(self, request: web.Request) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for m in sorted(self.venue.markets.values(), key=lambda m: m.market_id):
            # as the real endpoint: the 8h fraction is computed from the 4-decimal percent-per-hour
            pct = float(self._percent_per_hour(self.venue.funding_rate(m.symbol), m))
            rows.append({"market_id": m.market_id, "exchange": "lighter", "symbol": m.exchange_base, "rate": pct * 8 / 100})
            rows.append({"market_id": m.market_id, "exchange": "binance", "symbol": m.exchange_base, "rate": 0.0001})
        return {"code": 200, "funding_rates": rows}

    async def _fundings(self, request: web.Request) -> dict[str, Any]:
        """Settled hourly funding of ``market_id`` with ``start_timestamp <= t <= end_timestamp``
        (ms; answer ``timestamp`` in seconds), ascending, at most :data:`FUNDINGS_MAX` (the latest
        ones when the range holds more; ``count_back`` > 0 keeps only that many latest). ``rate``
        is unsigned percent per hour (4 decimals), ``direction`` the side that paid
        (protocol doc §3.5), ``value`` USDC per unit of base."""
        m = self._market_by_id(self._int(request, "market_id"))
        resolution = request.query.get("resolution", "")
        if resolution != "1h":
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: resolution={resolution!r} (1h only here)")
        start = self._int(request, "start_timestamp", lo=0, hi=5 * 10**12)
        end = self._int(request, "end_timestamp", lo=0, hi=5 * 10**12)
        count_back = self._int(request, "count_back", default=0, lo=0)
        path = self.venue.funding_history(m.symbol)
        window = path.window(start, end)[-(count_back or FUNDINGS_MAX):][-FUNDINGS_MAX:]
        rows = []
        for i in window:
            rate = path.rates[i]
            rows.append({"timestamp": path.times_ms[i] // 1000,
                         "value": f"{abs(rate) / m.funding_interval_hours * path.marks[i]:.4f}",
                         "rate": self._percent_per_hour(abs(rate), m), "direction": "long" if rate >= 0 else "short"})
        return {"code": 200, "resolution": resolution, "fundings": rows}

    async def _exchange_stats(self, request: web.Request) -> dict[str, Any]:
        stats = []
        for m in sorted(self.venue.markets.values(), key=lambda m: m.market_id):
            d = self._detail(m)
            stats.append({k: d[k] for k in ("symbol", "last_trade_price", "daily_trades_count", "daily_base_token_volume",
                                             "daily_quote_token_volume", "daily_price_change")})
        return {"code": 200, "total": len(stats), "order_book_stats": stats,
                "daily_usd_volume": sum(s["daily_quote_token_volume"] for s in stats),
                "daily_trades_count": sum(s["daily_trades_count"] for s in stats)}

    async def _recent_trades(self, request: web.Request) -> dict[str, Any]:
        m = self._market_by_id(self._int(request, "market_id"))
        limit = self._int(request, "limit", lo=1, hi=100)
        fills = [(a.id, f) for a in self.venue.accounts.values() for f in a.fills if f.symbol == m.symbol]
        fills.sort(key=lambda t: t[1].trade_id, reverse=True)
        return {"code": 200, "trades": [self._trade_json(aid, f) for aid, f in fills[:limit]]}

    # -- account REST ---------------------------------------------------------------------------------
    def _account_index_from(self, by: str, value: str) -> int:
        if by == "index":
            try:
                return int(value)
            except ValueError:
                raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: value={value!r}") from None
        if by == "l1_address":
            wanted = value.lower()
            for aid in list(self.venue.accounts) + [str(SIM_ACCOUNT_INDEX)]:
                if aid.isdigit() and sim_l1_address(int(aid)) == wanted:
                    return int(aid)
            raise LighterApiError(21100, "account not found", status=400)
        raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: by={by!r} (index|l1_address)")

    async def _account(self, request: web.Request) -> dict[str, Any]:
        value = request.query.get("value")
        if not value:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: value is required")
        idx = self._account_index_from(request.query.get("by", "index"), value)
        return {"code": 200, "total": 1, "accounts": [self._account_json(idx)]}

    async def _accounts_by_l1(self, request: web.Request) -> dict[str, Any]:
        addr = request.query.get("l1_address", "")
        idx = self._account_index_from("l1_address", addr)
        a = self._account_json(idx)
        sub = {k: a[k] for k in ("code", "account_type", "index", "l1_address", "cancel_all_time", "total_order_count",
                                 "total_isolated_order_count", "pending_order_count", "available_balance", "status", "collateral")}
        return {"code": 200, "l1_address": addr, "sub_accounts": [{**sub, "transaction_time": 0, "account_trading_mode": 0}]}

    async def _account_limits(self, request: web.Request) -> dict[str, Any]:
        idx = self._int(request, "account_index")
        self._auth(request, idx)
        return {"code": 200, "max_llp_percentage": 100, "max_llp_amount": "0.000000", "user_tier": "standard",
                "can_create_public_pool": False, "user_tier_name": "standard", "current_maker_fee_tick": 0,
                "current_taker_fee_tick": 0, "leased_lit": "0.00000000", "effective_lit_stakes": "0.00000000",
                "user_tier_last_update": 0}

    def _orders_of(self, request: web.Request, *, active: bool) -> tuple[int, list[Order]]:
        idx = self._int(request, "account_index")
        self._auth(request, idx)
        mid = self._int(request, "market_id", default=-1)
        sym = self._market_by_id(mid).symbol if mid >= 0 else None
        if active:
            return idx, self.venue.open_orders(str(idx), sym)
        orders = [o for o in self._history(str(idx))
                  if not o.is_open and (sym is None or o.symbol == sym)]
        return idx, orders

    async def _active_orders(self, request: web.Request) -> dict[str, Any]:
        _, orders = self._orders_of(request, active=True)
        return {"code": 200, "orders": [self._order_json(o) for o in orders]}

    async def _inactive_orders(self, request: web.Request) -> dict[str, Any]:
        limit = self._int(request, "limit", lo=1, hi=100)
        _, orders = self._orders_of(request, active=False)
        ask_filter = self._int(request, "ask_filter", default=-1)
        if ask_filter in (0, 1):
            orders = [o for o in orders if (o.side == "sell") == bool(ask_filter)]
        orders.sort(key=lambda o: o.id, reverse=True)
        return {"code": 200, "orders": [self._order_json(o) for o in orders[:limit]], "next_cursor": ""}

    async def _account_orders(self, request: web.Request) -> dict[str, Any]:
        idx = self._int(request, "account_index")
        self._auth(request, idx)
        raw = request.query.get("client_order_indexes", "")
        try:
            wanted = {str(int(x)) for x in raw.split(",") if x.strip()}
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: client_order_indexes={raw!r}") from None
        if not wanted or len(wanted) > 20:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: client_order_indexes needs 1..20 ids")
        orders = [o for o in self._history(str(idx)) if o.client_id in wanted]
        return {"code": 200, "orders": [self._order_json(o) for o in orders]}

    async def _trades(self, request: web.Request) -> dict[str, Any]:
        idx = self._int(request, "account_index")
        self._auth(request, idx)
        limit = self._int(request, "limit", lo=1, hi=100)
        mid = self._int(request, "market_id", default=-1)
        sym = self._market_by_id(mid).symbol if mid >= 0 else None
        fills = [f for f in self.venue.account(str(idx)).fills if sym is None or f.symbol == sym]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        return {"code": 200, "trades": [self._trade_json(str(idx), f) for f in fills[:limit]], "next_cursor": ""}

    async def _position_funding(self, request: web.Request) -> dict[str, Any]:
        """Funding settled on the account's positions, newest first: ``change`` USDC (+ received),
        ``rate`` percent per hour, ``timestamp`` seconds. Filters: ``market_id``/``market_ids``
        (comma list), ``start_timestamp``/``end_timestamp`` (ms, or s when < 1e11), ``side``."""
        idx = self._int(request, "account_index")
        self._auth(request, idx)
        limit = self._int(request, "limit", lo=1, hi=100)
        raw_ids = request.query.get("market_ids") or request.query.get("market_id") or ""
        try:
            ids = {int(x) for x in raw_ids.split(",") if x.strip()}
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: market_ids={raw_ids!r}") from None

        def ms(name: str, default: int) -> int:
            value = self._int(request, name, default=default, lo=0)
            return value * 1000 if 0 < value < 10**11 else value

        start, end = ms("start_timestamp", 0), ms("end_timestamp", 5 * 10**12)
        side = request.query.get("side", "all")
        rows = []
        for i, p in enumerate(self.venue.account(str(idx)).fundings):
            m = self.venue.market(p.symbol)
            p_side = "long" if p.qty > 0 else "short"
            if (ids and m.market_id not in ids) or not start <= p.ts <= end or side not in ("all", "", p_side):
                continue
            rows.append({"timestamp": p.ts // 1000, "market_id": m.market_id, "funding_id": i,
                         "change": f"{p.amount:.6f}", "discount": "0.000000", "rate": self._percent_per_hour(p.rate, m),
                         "position_size": self._sz(m, abs(p.qty)), "position_side": p_side})
        rows.reverse()
        return {"code": 200, "position_fundings": rows[:limit], "next_cursor": ""}

    async def _next_nonce(self, request: web.Request) -> dict[str, Any]:
        acct = self._int(request, "account_index")
        key = self._int(request, "api_key_index", lo=0, hi=255)
        return {"code": 200, "nonce": self._nonces.get((acct, key), 0)}

    async def _apikeys(self, request: web.Request) -> dict[str, Any]:
        acct = self._int(request, "account_index")
        key = self._int(request, "api_key_index", default=255, lo=0, hi=255)
        keys = [k for (a, k) in self._nonces if a == acct and key in (255, k)]
        return {"code": 200, "api_keys": [{"account_index": acct, "api_key_index": k, "nonce": self._nonces[(acct, k)],
                                            "public_key": ""} for k in keys]}

    # -- transactions --------------------------------------------------------------------------------
    async def _send_tx(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            try:
                form: Any = _decode(await request.read())
            except msgspec.DecodeError:
                raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: body is not JSON") from None
        else:
            form = await request.post()  # urlencoded and multipart alike
        tx_type = form.get("tx_type") if hasattr(form, "get") else None
        tx_info = form.get("tx_info") if hasattr(form, "get") else None
        if tx_type is None or tx_info is None:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: tx_type and tx_info are required")
        return self.process_tx(tx_type, tx_info)

    async def _send_tx_batch(self, request: web.Request) -> dict[str, Any]:
        form = await request.post()
        try:
            types = _decode(str(form.get("tx_types", "")))
            infos = _decode(str(form.get("tx_infos", "")))
        except msgspec.DecodeError:
            raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: tx_types/tx_infos are not JSON arrays") from None
        if not isinstance(types, list) or not isinstance(infos, list) or len(types) != len(infos):
            raise LighterApiError(21513, "tx_types and tx_infos lengths differ")
        if len(types) > 50:
            raise LighterApiError(21514, "too many txs in batch (max 50)")
        hashes = [self.process_tx(t, i)["tx_hash"] for t, i in zip(types, infos)]
        return {"code": 200, "message": "", "tx_hash": hashes, "predicted_execution_time_ms": now_ms() + 200,
                "volume_quota_remaining": 1000}

    def process_tx(self, tx_type: Any, tx_info: Any) -> dict[str, Any]:
        """Execute one signed transaction (``tx_info`` a JSON string or an already decoded
        object); returns the sendTx success body or raises :class:`LighterApiError`."""
        try:
            ttype = int(tx_type)
        except (TypeError, ValueError):
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: tx_type={tx_type!r}") from None
        raw = tx_info.encode() if isinstance(tx_info, str) else _encode(tx_info)
        try:
            info = _decode(raw)
        except msgspec.DecodeError:
            raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: not JSON") from None
        if not isinstance(info, dict):
            raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: not an object")

        def field(name: str, default: int | None = None) -> int:
            value = info.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int):
                raise LighterApiError(CODE_INVALID_TX_INFO, f"invalid tx info: {name} must be an integer")
            return value

        account = field("AccountIndex" if "AccountIndex" in info else "FromAccountIndex")  # withdraw uses From...
        key = field("ApiKeyIndex")
        nonce = field("Nonce")
        expired_at = field("ExpiredAt", 0)
        if expired_at and expired_at < now_ms():
            raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: transaction expired")
        attrs = info.get("L2TxAttributes") or {}
        if not isinstance(attrs, dict):
            raise LighterApiError(CODE_INVALID_TX_INFO, "invalid tx info: L2TxAttributes")
        seen = (account, key, nonce)
        if seen in self._seen_set:
            raise LighterApiError(CODE_INVALID_NONCE, "invalid nonce: transaction replayed")
        skip = str(attrs.get("4", 0)) == "1"
        if not skip:  # without skip-nonce the nonce must be the next one
            expected = self._nonces.get((account, key), 0)
            if nonce != expected:
                raise LighterApiError(CODE_INVALID_NONCE, f"invalid nonce: expected {expected}, got {nonce}")
        elif nonce <= self._skip_nonces.get((account, key), -1):
            # skip-nonce txs still must arrive in increasing order per key: parallel sends whose
            # nonces arrive out of order are refused (issue 5; the uniqueness rule is inferred)
            raise LighterApiError(CODE_INVALID_NONCE, f"invalid nonce: {nonce} not above the last accepted "
                                  f"{self._skip_nonces[(account, key)]}")
        try:
            self._execute(ttype, str(account), info, attrs, field, nonce)
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise LighterApiError(CODE_INVALID_TX_INFO, f"invalid tx info: {exc}") from None
        self._seen_tx.append(seen)
        self._seen_set.add(seen)
        if len(self._seen_set) > len(self._seen_tx):
            self._seen_set = set(self._seen_tx)
        if not skip:
            self._nonces[(account, key)] = nonce + 1
        else:
            self._nonces.setdefault((account, key), 0)
            self._skip_nonces[(account, key)] = nonce
        tx_hash = hashlib.blake2b(raw, digest_size=40).hexdigest()
        return {"code": 200, "message": "{\"ratelimit\": \"didn't use volume quota\"}", "tx_hash": tx_hash,
                "predicted_execution_time_ms": now_ms() + 200, "volume_quota_remaining": 1000}

    def _execute(self, ttype: int, aid: str, info: dict[str, Any], attrs: dict[str, Any],
                 field: Callable[..., int], nonce: int) -> None:
        """Apply one decoded transaction of type ``ttype`` for account ``aid``."""
        if ttype == 14:
            self._create_order(aid, info, field, nonce)
        elif ttype == 15:
            m = self._market_by_id(field("MarketIndex"))
            self._cancel(aid, m, field("Index"))
        elif ttype == 16:
            tif = field("TimeInForce", 0)
            if tif not in (0, 1, 2):
                raise LighterApiError(21713, "invalid cancel all time in force")
            if tif == 0:
                market = attrs.get("5")
                sym = self._market_by_id(int(market)).symbol if market is not None else None
                self.venue.cancel_all(aid, sym)
        elif ttype == 17:
            self._modify(aid, field)
        elif ttype == 20:
            m = self._market_by_id(field("MarketIndex"))
            imf = field("InitialMarginFraction")
            if field("MarginMode", 0) != 0:
                raise LighterApiError(CODE_INVALID_MARGIN_MODE, "invalid margin mode: the emulator supports cross margin only")
            if imf <= 0 or imf > 10_000:
                raise LighterApiError(21604, f"invalid margin fractions: InitialMarginFraction={imf}")
            lev = max(int(10_000 // imf), 1)
            try:
                self.venue.set_leverage(aid, m.symbol, lev)
            except SimError as exc:
                raise LighterApiError(21604, f"invalid margin fractions for market: {exc.message}") from None
        elif ttype in (8, 45):
            pass  # key registration / integrator approval: signatures are not checked here
        else:
            raise LighterApiError(CODE_UNSUPPORTED_TX, f"unsupported tx type {ttype}")

    def _create_order(self, aid: str, info: dict[str, Any], field: Callable[..., int], nonce: int) -> None:
        m = self._market_by_id(field("MarketIndex"))
        base, price_int = field("BaseAmount"), field("Price")
        is_ask, otype, tif_num = field("IsAsk"), field("Type"), field("TimeInForce")
        reduce_only, client = field("ReduceOnly", 0), field("ClientOrderIndex", 0)
        expiry = field("OrderExpiry", 0)
        if base <= 0:
            raise LighterApiError(CODE_INVALID_BASE, "invalid base amount")
        if price_int <= 0 or price_int >= 1 << 32:
            raise LighterApiError(CODE_INVALID_PRICE, "invalid price")
        if is_ask not in (0, 1):
            raise LighterApiError(21703, "invalid isAsk")
        if otype not in (0, 1, *_TRIGGER_TYPES):
            raise LighterApiError(CODE_INVALID_TYPE if otype > 8 else 21710,
                                  "unsupported order type" if otype <= 8 else "invalid OrderType")
        if tif_num not in (0, 1, 2) or (otype in (1, *_TRIGGER_TYPES) and tif_num != 0):
            raise LighterApiError(CODE_INVALID_TIF, "invalid OrderTimeInForce")
        if client < 0 or client >= ORDER_INDEX_BASE:
            raise LighterApiError(21727, "invalid client order index")
        if client and any(o.client_id == str(client) for o in self.venue.open_orders(aid)):
            raise LighterApiError(CODE_CLIENT_INDEX_EXISTS, "client order index already exists")
        qty = m.round_size(base / 10 ** m.size_decimals)
        price = m.round_price(price_int / 10 ** m.price_decimals)
        side = "sell" if is_ask else "buy"
        if otype in _TRIGGER_TYPES:
            order = self._create_trigger(aid, m, info, field, side, qty, otype, bool(reduce_only), client)
            self._order_meta[order.id] = (nonce, expiry if expiry > 0 else 0)
            return
        try:
            if otype == 1:
                order = self.venue.place_order(aid, m.symbol, side, qty, order_type="market", reduce_only=bool(reduce_only),
                                               client_id=str(client) if client else None, slippage_price=price)
            else:
                tif = {0: "ioc", 1: "gtc", 2: "post_only"}[tif_num]
                order = self.venue.place_order(aid, m.symbol, side, qty, order_type="limit", price=price, tif=tif,
                                               reduce_only=bool(reduce_only), client_id=str(client) if client else None)
        except SimError as exc:
            raise _sim_error(exc) from None
        self._order_meta[order.id] = (nonce, expiry if expiry > 0 else 0)
        if order.id not in self.venue.account(aid).orders:  # a crossing post-only order the engine expired
            self._unbooked.setdefault(aid, {})[order.id] = order

    def _create_trigger(self, aid: str, m: MarketSpec, info: dict[str, Any], field: Callable[..., int], side: str,
                        qty: float, otype: int, reduce_only: bool, client: int) -> Order:
        """Order type 2 (stop-loss) or 4 (take-profit), market style (protocol §5: ``TriggerPrice``
        set, ``Price`` the worst execution price, immediate-or-cancel once triggered), compared
        with the mark price. A stop-loss sell fires when the mark falls to the trigger, a buy when it
        rises to it; a take-profit the other way. A trigger already reached is refused (21702)."""
        trigger_int = field("TriggerPrice", 0)
        if trigger_int <= 0 or trigger_int >= 1 << 32:
            raise LighterApiError(CODE_INVALID_PRICE, "invalid trigger price")
        trigger = m.round_price(trigger_int / 10 ** m.price_decimals)
        above = (side == "buy") if otype == 2 else (side == "sell")
        try:
            order = self.venue.conditional.place(aid, m.symbol, side, qty, trigger, trigger_by="mark",
                                                 reduce_only=reduce_only, trigger_above=above,
                                                 client_id=str(client) if client else None)
        except SimError as exc:
            if exc.kind == "would_trigger":
                raise LighterApiError(CODE_INVALID_PRICE, f"invalid trigger price: {exc.message}") from None
            raise _sim_error(exc) from None
        self._trigger_types[order.id] = _TRIGGER_TYPES[otype]
        return order

    def _history(self, aid: str) -> list[Order]:
        """Every order of ``aid``: the engine's, plus post-only orders it expired without booking."""
        orders = list(self.venue.account(aid).orders.values())
        orders.extend(self._unbooked.get(aid, {}).values())
        return orders

    def _find(self, aid: str, m: MarketSpec, index: int) -> Order | None:
        if index >= ORDER_INDEX_BASE:
            return self.venue.find_order(aid, m.symbol, order_id=index - ORDER_INDEX_BASE)
        return self.venue.find_order(aid, m.symbol, client_id=str(index))

    def _cancel(self, aid: str, m: MarketSpec, index: int) -> None:
        if index <= 0:
            raise LighterApiError(21700, "invalid order index")
        order = self._find(aid, m, index)
        if order is None or not order.is_open:
            raise LighterApiError(*ERROR_CODES["not_found"])
        self.venue.cancel_order(aid, m.symbol, order_id=order.id)

    def _modify(self, aid: str, field: Callable[..., int]) -> None:
        m = self._market_by_id(field("MarketIndex"))
        order = self._find(aid, m, field("Index"))
        if order is None or not order.is_open or order.price is None:
            raise LighterApiError(*ERROR_CODES["not_found"])
        base, price_int = field("BaseAmount"), field("Price")
        if base <= 0 or price_int <= 0:
            raise LighterApiError(CODE_INVALID_BASE if base <= 0 else CODE_INVALID_PRICE, "invalid modify amounts")
        self.venue.cancel_order(aid, m.symbol, order_id=order.id)
        try:
            new = self.venue.place_order(aid, m.symbol, order.side, m.round_size(base / 10 ** m.size_decimals),
                                         order_type="limit", price=m.round_price(price_int / 10 ** m.price_decimals),
                                         tif=order.tif, reduce_only=order.reduce_only, client_id=order.client_id)
        except SimError as exc:
            raise _sim_error(exc) from None
        self._order_meta[new.id] = self._order_meta.get(order.id, (0, 0))

    # -- engine events -------------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, BookEvent):
            batch = self._pending.get(ev.symbol)
            if batch is not None and ev.prev_seq != batch.nonce:
                self._flush(ev.symbol)  # keep the broken chain visible: the gap starts a new batch
                batch = None
            if batch is None:
                batch = self._pending[ev.symbol] = _Batch(ev.prev_seq)
            for p, s in ev.bids:
                batch.bids[p] = s
            for p, s in ev.asks:
                batch.asks[p] = s
            batch.nonce = ev.seq
        elif isinstance(ev, OrderEvent):
            self._push_order(ev)
        elif isinstance(ev, FundingEvent):
            aid = ev.account
            self._push_account(aid, "user_stats", lambda: {"stats": self._user_stats(aid)})
        elif isinstance(ev, FundingRateEvent):
            self._settled[ev.symbol] = (ev.rate, ev.ts)

    def _push_account(self, aid: str, name: str, body: Callable[[], dict[str, Any]], symbol: str | None = None,
                      *, fill: bool = False) -> None:
        """Send ``update/<name>`` to the sockets subscribed to ``<name>/<aid>``; ``body`` is only
        built when someone listens. A ``fill`` frame is subject to the ``dup`` / ``user_drop``
        faults (:meth:`QueuedSocket.push_private`)."""
        channel = f"{name}/{aid}"
        targets = [c for c in self._clients if channel in c.channels]
        if targets:
            frame = _encode({"channel": f"{name}:{aid}", **body(), "type": f"update/{name}"}).decode()
            for c in targets:
                c.push_private(frame, self.venue.faults, symbol, fill=fill)

    def _push_order(self, ev: OrderEvent) -> None:
        if not self._clients:
            return
        aid = ev.account
        m = self.venue.market(ev.order.symbol)
        mkey = str(m.market_id)
        self._push_account(aid, "account_all_orders", lambda: {"orders": {mkey: [self._order_json(ev.order)]}})
        per_market = f"account_orders/{m.market_id}/{aid}"
        for c in self._clients:
            if per_market in c.channels:
                order = self._order_json(ev.order)
                c.send({"account": int(aid) if aid.isdigit() else 0, "channel": f"account_orders:{m.market_id}",
                        "nonce": order["nonce"], "orders": {mkey: [order]}, "type": "update/account_orders"})
        fill = ev.fill
        if fill is not None:
            public = f"trade/{m.market_id}"
            listeners = [c for c in self._clients if public in c.channels]
            if listeners:
                frame = _encode({"channel": f"trade:{m.market_id}", "liquidation_trades": [],
                                 "nonce": self.venue.sequence(m.symbol), "trades": [self._trade_json(aid, fill)],
                                 "type": "update/trade"}).decode()
                for c in listeners:
                    c.send(frame)
            self._push_account(aid, "account_all_trades", lambda: {
                "trades": {mkey: [self._trade_json(aid, fill)]},
                "total_volume": 0, "monthly_volume": 0, "weekly_volume": 0, "daily_volume": 0}, m.symbol, fill=True)
            if aid.isdigit():
                self._push_account(aid, "account_all_positions", lambda: {
                    "positions": {str(p["market_id"]): p for p in self._account_json(int(aid))["positions"]},
                    "shares": []})
            if ev.order.system is not None:  # own liquidations / ADL also come as notifications (§6)
                self._push_account(aid, "notification", lambda: {"notifs": [self._liquidation_notif(ev.order, fill)]})
        self._push_account(aid, "user_stats", lambda: {"stats": self._user_stats(aid)})

    def _liquidation_notif(self, order: Order, fill: Any) -> dict[str, Any]:
        m = self.venue.market(order.symbol)
        return {"kind": "deleverage" if order.system == "adl" else "liquidation", "content": {
            "id": str(fill.trade_id), "is_ask": order.side == "sell", "usdc_amount": f"{fill.qty * fill.price:.6f}",
            "size": self._sz(m, fill.qty), "market_index": m.market_id, "price": self._px(m, fill.price),
            "timestamp": fill.ts // 1000, "avg_price": self._px(m, fill.price)}}

    def _flush(self, symbol: str) -> None:
        batch = self._pending.pop(symbol, None)
        if batch is None:
            return
        self._last_nonce[symbol] = batch.nonce
        subscribers = [c for c in self._clients if c.books.get(symbol, batch.nonce) < batch.nonce]
        if not subscribers:
            return
        m = self.venue.market(symbol)
        self._offset += 1 + (batch.nonce % 7)
        ts = now_ms()
        frame = _encode({
            "channel": f"order_book:{m.market_id}", "offset": self._offset,
            "order_book": {"code": 0,
                           "asks": [{"price": self._px(m, p), "size": self._sz(m, s)} for p, s in sorted(batch.asks.items())],
                           "bids": [{"price": self._px(m, p), "size": self._sz(m, s)} for p, s in sorted(batch.bids.items(), reverse=True)],
                           "offset": self._offset, "nonce": batch.nonce, "begin_nonce": batch.begin},
            "timestamp": ts, "type": "update/order_book",
        }).decode()
        broken = self.venue.faults.take("malformed", symbol)
        for c in subscribers:
            if broken:
                c.send(frame[: len(frame) // 2])  # a truncated frame, as a cut connection would deliver
            c.send(frame)

    async def _pump_loop(self) -> None:
        for tick in itertools.count(1):
            await asyncio.sleep(BATCH_SECONDS)
            try:
                for sym in list(self._pending):
                    self._flush(sym)
                if self.venue.faults.take("drop"):
                    for c in list(self._clients):
                        c.finish()
                if self.venue.faults.take("stall"):
                    for c in self._clients:
                        c.stall(STALL_SECONDS)
                if tick % STATS_EVERY == 0:
                    self._push_stats()
                if tick % PING_EVERY == 0:
                    for c in self._clients:
                        c.send({"type": "ping"})
            except Exception:  # noqa: BLE001 - keep pushing
                log.exception("%s emulator: pump failed", EXCHANGE)

    def _push_stats(self, only: _WsClient | None = None, channel: str | None = None) -> None:
        clients = [only] if only is not None else list(self._clients)
        for c in clients:
            for ch in list(c.channels):
                if not ch.startswith("market_stats/") or (channel is not None and ch != channel):
                    continue
                kind = "subscribed" if only is not None else "update"
                target = ch.split("/", 1)[1]
                if target == "all":
                    stats: Any = {str(m.market_id): self._market_stats(m) for m in self.venue.markets.values()}
                else:
                    stats = self._market_stats(self.by_id[int(target)])
                c.send({"channel": _channel_id(ch), "market_stats": stats, "type": f"{kind}/market_stats"})

    # -- WebSocket -----------------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=1.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _WsClient(ws)
        client.start()
        self._clients.add(client)
        client.send({"session_id": str(uuid.uuid4()), "type": "connected"})
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    try:
                        self._on_ws_message(client, msg.data if isinstance(msg.data, bytes) else msg.data.encode())
                    except Exception:  # noqa: BLE001 - a bad message never kills the socket
                        log.exception("%s emulator: ws message failed", EXCHANGE)
                        self._ws_error(client, 30007, "Invalid Data")
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._clients.discard(client)
            client.finish()
        return ws

    @staticmethod
    def _ws_error(client: _WsClient, code: int, message: str, extra: dict[str, Any] | None = None) -> None:
        client.send({"error": {"code": code, "message": message}, **(extra or {})})

    def _on_ws_message(self, client: _WsClient, data: bytes) -> None:
        try:
            msg = _decode(data)
        except msgspec.DecodeError:
            self._ws_error(client, 30000, "Invalid Json")
            return
        if not isinstance(msg, dict):
            self._ws_error(client, 30000, "Invalid Json")
            return
        mtype = msg.get("type")
        if mtype == "ping":
            client.send({"type": "pong"})
        elif mtype == "pong":
            return
        elif mtype == "subscribe":
            self._subscribe(client, str(msg.get("channel", "")), msg.get("auth"))
        elif mtype == "unsubscribe":
            channel = str(msg.get("channel", ""))
            if channel not in client.channels:
                self._ws_error(client, 30002, f"Not Subscribed to : {_channel_id(channel)}")
                return
            client.channels.discard(channel)
            if channel.startswith("order_book/"):
                client.books.pop(self.by_id[int(channel.split("/")[1])].symbol, None)
            client.send({"type": "unsubscribed", "channel": _channel_id(channel)})
        elif mtype == "jsonapi/sendtx":
            self._ws_send_tx(client, msg.get("data"))
        elif mtype == "jsonapi/sendtxbatch":
            self._ws_error(client, 30006, "Operation not supported")
        else:
            self._ws_error(client, 30001, "Invalid Type")

    def _ws_send_tx(self, client: _WsClient, data: Any) -> None:
        if not isinstance(data, dict):
            self._ws_error(client, 30007, "Invalid Data")
            return
        req_id = str(data.get("id", ""))
        try:
            body = self.process_tx(data.get("tx_type"), data.get("tx_info"))
        except LighterApiError as exc:
            self._ws_error(client, exc.code, exc.message, {"id": req_id, "type": "jsonapi/sendtx"})
            return
        client.send({"code": 200, "id": req_id, "predicted_execution_time_ms": body["predicted_execution_time_ms"],
                     "tx_hash": body["tx_hash"], "type": "jsonapi/sendtx"})

    def _subscribe(self, client: _WsClient, channel: str, auth: Any) -> None:
        parts = channel.split("/")
        name = parts[0]
        ids = parts[1:]

        def invalid() -> None:
            self._ws_error(client, 30005, f"Invalid Channel:  ({channel})")

        if channel in client.channels:
            self._ws_error(client, 30003, f"Already Subscribed to : {_channel_id(channel)}")
            return
        try:
            nums = [int(x) for x in ids if x != "all"]
        except ValueError:
            invalid()
            return
        if name == "order_book" and len(ids) == 1 and nums and nums[0] in self.by_id:
            m = self.by_id[nums[0]]
            client.channels.add(channel)
            self._send_snapshot(client, m)
        elif name == "market_stats" and len(ids) == 1 and (ids[0] == "all" or (nums and nums[0] in self.by_id)):
            client.channels.add(channel)
            self._push_stats(only=client, channel=channel)
        elif name == "trade" and len(ids) == 1 and nums and nums[0] in self.by_id:
            client.channels.add(channel)
            client.send({"channel": _channel_id(channel), "liquidation_trades": [], "nonce": self.venue.sequence(self.by_id[nums[0]].symbol),
                         "trades": [], "type": "subscribed/trade"})
        elif name in ("account_all_orders", "account_all_trades", "user_stats", "account_all_assets",
                      "account_all_positions", "account_all", "notification") and len(ids) == 1 and nums:
            aid = str(nums[0])
            if name in ("account_all_orders", "account_all_assets", "account_all_positions", "notification") \
                    and not self._ws_auth_ok(client, auth, nums[0]):
                return
            client.channels.add(channel)
            client.send({"channel": _channel_id(channel), **self._account_state(name, aid), "type": f"subscribed/{name}"})
        elif name == "account_orders" and len(ids) == 2 and len(nums) == 2 and nums[0] in self.by_id:
            if not self._ws_auth_ok(client, auth, nums[1]):
                return
            client.channels.add(channel)
            m = self.by_id[nums[0]]
            orders = [self._order_json(o) for o in self.venue.open_orders(str(nums[1]), m.symbol)]
            client.send({"account": nums[1], "channel": _channel_id(channel), "nonce": 0,
                         "orders": {str(m.market_id): orders}, "type": "subscribed/account_orders"})
        else:
            invalid()

    def _ws_auth_ok(self, client: _WsClient, auth: Any, account_index: int) -> bool:
        try:
            self._check_auth(auth if isinstance(auth, str) else None, account_index)
            return True
        except LighterApiError as exc:
            self._ws_error(client, 30012, f"Failed to subscribe: {exc.message}")
            return False

    def _account_state(self, name: str, aid: str) -> dict[str, Any]:
        acct_json = self._account_json(int(aid))
        if name == "user_stats":
            return {"stats": self._user_stats(aid)}
        if name == "account_all_orders":
            grouped: dict[str, list[dict[str, Any]]] = {}
            for o in self.venue.open_orders(aid):
                grouped.setdefault(str(self.venue.market(o.symbol).market_id), []).append(self._order_json(o))
            return {"orders": grouped}
        if name == "account_all_trades":
            return {"trades": {}, "total_volume": 0, "monthly_volume": 0, "weekly_volume": 0, "daily_volume": 0}
        if name == "notification":
            return {"notifs": []}
        if name == "account_all_assets":
            return {"assets": {"3": acct_json["assets"][0]}}
        positions = {str(p["market_id"]): p for p in acct_json["positions"]}
        if name == "account_all_positions":
            return {"positions": positions, "shares": []}
        return {"account": int(aid), "positions": positions, "trades": {}, "funding_histories": {},
                "assets": {"3": acct_json["assets"][0]}, "daily_volume": 0, "weekly_volume": 0, "monthly_volume": 0,
                "total_volume": 0}

    def _send_snapshot(self, client: _WsClient, m: MarketSpec) -> None:
        bids, asks = self.venue.book(m.symbol)
        nonce = self.venue.sequence(m.symbol)
        client.books[m.symbol] = nonce
        self._offset += 1
        client.send({
            "channel": f"order_book:{m.market_id}", "offset": self._offset,
            "order_book": {"code": 0,
                           "asks": [{"price": self._px(m, p), "size": self._sz(m, s)} for p, s in asks],
                           "bids": [{"price": self._px(m, p), "size": self._sz(m, s)} for p, s in bids],
                           "offset": self._offset, "nonce": nonce, "begin_nonce": self._last_nonce.get(m.symbol, nonce)},
            "timestamp": now_ms(), "type": "subscribed/order_book",
        })
