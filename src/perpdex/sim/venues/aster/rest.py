"""Aster emulator, REST layer: the public ``/fapi`` market routes (and the spot catalog) and the
signed V3 private routes (orders, positions, balance, leverage, income, trades, listen keys).
Protocol: docs/exchanges/aster.md."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ....exchanges.aster.symbols import DEFAULT_QUOTE
from ...engine import Order, SimError, now_ms
from .base import (
    _TIF_IN,
    _WORKING_TYPE,
    DEPTH_LIMITS,
    FUNDING_CAP,
    AsterApiError,
    _AsterBase,
    _json,
    _missing,
    _on_grid,
    _parse_bool,
    _parse_num,
)


class _AsterRest(_AsterBase):
    """Aster's public and private REST routes."""

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
