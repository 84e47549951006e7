"""Paradex emulator, REST layer: the public ``/v1`` routes (system, markets, summaries, books,
funding, onboarding) and the private ones (orders, account, positions, fills, funding payments,
margin). Protocol: docs/exchanges/paradex.md."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from ....exchanges.paradex import schemas, signer
from ...engine import Order, SimError, now_ms
from ...history import HOUR_MS
from .base import (
    _CONFIG,
    _ORDER_FIELDS,
    _REJECT_REASON,
    _STOP_TYPES,
    _TIF,
    _TIF_BACK,
    FUNDING_SAMPLE_MS,
    ParadexApiError,
    _b64,
    _fmt,
    _ParadexBase,
    _unb64,
    engine_order_id,
    order_id,
)


class _ParadexRest(_ParadexBase):
    """Paradex's public and private REST routes."""

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
