"""Backpack emulator, WebSocket layer: the public and signed private stream sessions and the
engine events pushed to them. Protocol: docs/exchanges/backpack.md."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from ....exchanges.backpack.symbols import QUOTE
from ...engine import BookEvent, FundingEvent, OrderEvent, now_ms
from ...wsqueue import QueuedSocket
from .auth import MAX_WINDOW_MS
from .base import (
    _EVENT,
    _ORIGINS,
    _PRIVATE_RE,
    _STATUS,
    _STREAM_RE,
    _TIF_OUT,
    _TRIGGER_OUT,
    PING_INTERVAL,
    _encode,
    _Socket,
)
from .rest import _BackpackRest


class _BackpackStreams(_BackpackRest):
    """Backpack's WebSocket sessions and the pushes of engine events."""

    # -- WebSocket ----------------------------------------------------------------------------------
    def _open_sockets(self) -> list[QueuedSocket]:
        return list(self._socks)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=PING_INTERVAL, max_msg_size=1 << 20)
        return await self._serve(request, ws, _Socket(ws), self._socks, on_text=self._control)

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

    async def _pump_tick(self, tick: int) -> None:
        """Every 50 ms ``drop`` / ``stall`` faults; every second (20 ticks) the markPrice /
        ticker / openInterest streams."""
        await self._socket_faults()
        if tick % 20:
            return
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

    # -- engine events -----------------------------------------------------------------------------
    def _on_funding(self, ev: FundingEvent) -> None:
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
