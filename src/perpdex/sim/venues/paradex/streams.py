"""Paradex emulator, WebSocket layer: engine events pushed as JSON-RPC notifications or SBE
frames, the periodic channels, and the ``/v1`` sessions (auth, subscribe, unsubscribe).
Protocol: docs/exchanges/paradex.md."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from ....exchanges.paradex import schemas
from ...engine import BookEvent, FundingEvent, OrderEvent, now_ms
from ...wsqueue import QueuedSocket
from .base import (
    _PRIVATE_BARE,
    _PRIVATE_PREFIXES,
    _SNAPSHOT_RATES,
    SNAPSHOT_DEPTH,
    ParadexApiError,
    _encode,
    _fmt,
    _push,
    _rpc_error,
    _WsClient,
)
from .rest import _ParadexRest
from .sbe import SBE_VERSIONS, encode_bbo, encode_book, encode_funding, encode_summary, encode_trade


class _ParadexStreams(_ParadexRest):
    """Paradex's WebSocket sessions and the pushes of engine events."""

    # -- engine events -> pushes ------------------------------------------------------------------
    def _on_order(self, ev: OrderEvent) -> None:
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

    def _on_funding(self, ev: FundingEvent) -> None:
        p = ev.payment
        name = self.names.get(p.symbol)
        if name is None:
            return
        row = {"account": ev.account, "created_at": p.ts, "fill_id": "", "id": f"{p.ts}{len(self._payments.get(ev.account, [])):06d}",
               "index": _fmt(round(self._funding_index[p.symbol], 12)), "market": name, "payment": _fmt(round(p.amount, 10))}
        self._payments.setdefault(ev.account, []).append(row)
        self._emit_private(ev.account, "funding_payments", name, row)

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

    def _open_sockets(self) -> list[QueuedSocket]:
        return list(self._clients)

    async def _pump_tick(self, tick: int) -> None:
        """Every ``PUMP_SECONDS``: ``drop`` / ``stall`` faults, the funding index, the order-book
        snapshots that are due; every second funding data and market summaries."""
        await self._socket_faults()
        self._accrue()
        now = asyncio.get_running_loop().time()
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
        return await self._serve(request, ws, _WsClient(ws, sbe), self._clients, on_text=self._on_ws_text,
                                 on_binary=self._refuse_binary)

    @staticmethod
    def _refuse_binary(c: _WsClient, _data: bytes) -> None:
        c.send(_rpc_error(None, -32700, "parse error", "binary requests are not accepted"))

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
