"""Lighter emulator, shared layer: the error codes and Lighter-shaped errors, the socket and
batch types, and the dialect's state, wire formatting and REST plumbing (auth tokens, integer
parameters) that the REST and WebSocket layers build on. Protocol: docs/exchanges/lighter.md."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from ...engine import MarketSpec, Order, SimError, Venue
from ...wsqueue import QueuedSocket
from .._shared.streaming import StreamingEmulator
from .._shared.wire import VenueApiError, json_response, price_str, qty_str
from .._shared.wire import encode as _encode

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

_decode = msgspec.json.Decoder().decode

_TIF_NAMES = {"ioc": "immediate-or-cancel", "gtc": "good-till-time", "post_only": "post-only", "fok": "immediate-or-cancel"}


class LighterApiError(VenueApiError):
    """A Lighter-shaped error answer: HTTP ``status`` with ``{"code": code, "message": message}``
    (``code`` an int of :data:`ERROR_CODES` or a ``CODE_*``)."""

    code: int


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
class _LighterBase(StreamingEmulator):
    """State, formatting and REST plumbing of the Lighter dialect over one :class:`Venue`."""

    EXCHANGE = EXCHANGE
    PUMP_SECONDS = BATCH_SECONDS
    DROP_FLUSHES = True

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
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

    # -- formatting -----------------------------------------------------------------------------------
    def _market_by_id(self, market_id: int) -> MarketSpec:
        m = self.by_id.get(market_id)
        if m is None:
            raise LighterApiError(CODE_INVALID_MARKET, "invalid market index")
        return m

    _px = staticmethod(price_str)
    _sz = staticmethod(qty_str)

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
            return json_response(body, status)

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
