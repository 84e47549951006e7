"""Lighter emulator, REST layer: the public and account routes under ``/api/v1/`` and the
transactions of ``sendTx`` / ``sendTxBatch`` (create, cancel, modify, leverage) applied to the
engine. Protocol: docs/exchanges/lighter.md."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from ....exchanges.lighter.signer import SIM_ACCOUNT_INDEX
from ...engine import MarketSpec, Order, SimError, now_ms
from .base import (
    _TRIGGER_TYPES,
    CODE_CLIENT_INDEX_EXISTS,
    CODE_INVALID_BASE,
    CODE_INVALID_MARGIN_MODE,
    CODE_INVALID_NONCE,
    CODE_INVALID_PARAM,
    CODE_INVALID_PRICE,
    CODE_INVALID_TIF,
    CODE_INVALID_TX_INFO,
    CODE_INVALID_TYPE,
    CODE_UNSUPPORTED_TX,
    ERROR_CODES,
    FUNDINGS_MAX,
    MAKER_ACCOUNT,
    ORDER_INDEX_BASE,
    SPOT_MARKET_ID,
    SYNTHETIC_INDEX_BASE,
    LighterApiError,
    _decode,
    _encode,
    _LighterBase,
    _sim_error,
    sim_l1_address,
)


class _LighterRest(_LighterBase):
    """Lighter's REST routes and transaction processing."""

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
