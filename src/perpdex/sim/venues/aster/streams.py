"""Aster emulator, WebSocket layer: market stream sessions (combined and named), the user-data
stream of a listen key, and the engine events pushed to them. Protocol: docs/exchanges/aster.md."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from ....exchanges.aster.symbols import DEFAULT_QUOTE
from ...engine import BookEvent, FundingEvent, OrderEvent, now_ms
from ...wsqueue import QueuedSocket
from .base import _STATUS, _STREAM_RE, _TIF_OUT, _WORKING_OUT, PARTIAL_LEVELS, _encode, _Socket, _Stream
from .rest import _AsterRest


class _AsterStreams(_AsterRest):
    """Aster's WebSocket sessions and the pushes of engine events."""

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

    def _open_sockets(self) -> list[QueuedSocket]:
        return [*self._market_socks, *(s for group in self._user_socks.values() for s in group)]

    def _fault_sockets(self) -> list[QueuedSocket]:
        return list(self._market_socks)  # ``drop`` / ``stall`` reach the market streams only

    async def _serve_market(self, request: web.Request, combined: bool, initial: list[str]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)

        def subscribe_initial(sock: _Socket) -> None:
            if initial:
                self._subscribe(sock, initial, None, ack=False)

        return await self._serve(request, ws, _Socket(ws, combined), self._market_socks,
                                 on_text=self._control, on_open=subscribe_initial)

    async def _ws_combined(self, request: web.Request) -> web.WebSocketResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._serve_market(request, request.path.endswith("/stream"), streams)

    async def _ws_named(self, request: web.Request) -> web.WebSocketResponse:
        name = request.match_info["name"]
        account = self._listen_keys.get(name)
        if account is None:
            return await self._serve_market(request, False, [name])
        ws = web.WebSocketResponse(autoping=True)
        return await self._serve(request, ws, _Socket(ws, False), self._user_socks.setdefault(account, set()),
                                 pump=False)  # the pump serves the market streams only

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

    async def _pump_tick(self, tick: int) -> None:
        """Every 50 ms: ``drop`` / ``stall`` faults, then the periodic streams that are due
        (partial depth, mark price)."""
        await self._socket_faults()
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

    # -- engine events -----------------------------------------------------------------------------
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
