"""Backpack emulator, REST layer: the public market routes and the signed private routes
(account, capital, collateral, orders, fills, funding, positions). Protocol:
docs/exchanges/backpack.md."""

from __future__ import annotations

import math
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ....exchanges.backpack.symbols import QUOTE, exchange_base
from ...engine import MarketSpec, Order, SimError, now_ms
from .base import (
    _STATUS,
    _SYSTEM_FILLS,
    _TIF_IN,
    _TIF_OUT,
    _TRIGGER_BY,
    _TRIGGER_OUT,
    DEPTH_LIMITS,
    BackpackApiError,
    _BackpackBase,
    _enum,
    _json,
    _parse_error,
    iso_ms,
)


class _BackpackRest(_BackpackBase):
    """Backpack's public and private REST routes."""

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
