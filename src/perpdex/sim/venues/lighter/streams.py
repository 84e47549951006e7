"""Lighter emulator, WebSocket layer: engine events turned into batched ``order_book`` deltas,
market stats and account pushes, and the ``/stream`` sessions (subscribe, auth, ``sendtx``).
Protocol: docs/exchanges/lighter.md."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from ...engine import BookEvent, FundingEvent, FundingRateEvent, MarketSpec, Order, OrderEvent, now_ms
from ...wsqueue import QueuedSocket
from .base import (
    EXCHANGE,
    PING_EVERY,
    STATS_EVERY,
    LighterApiError,
    _Batch,
    _channel_id,
    _decode,
    _encode,
    _WsClient,
)
from .rest import _LighterRest

log = logging.getLogger(__name__)


class _LighterStreams(_LighterRest):
    """Lighter's WebSocket sessions and the pushes of engine events."""

    # -- engine events -------------------------------------------------------------------------------
    def _on_book(self, ev: BookEvent) -> None:
        """Merge the change into the symbol's pending batch (sent by the pump)."""
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

    def _on_funding(self, ev: FundingEvent) -> None:
        aid = ev.account
        self._push_account(aid, "user_stats", lambda: {"stats": self._user_stats(aid)})

    def _on_funding_rate(self, ev: FundingRateEvent) -> None:
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

    def _on_order(self, ev: OrderEvent) -> None:
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

    def _open_sockets(self) -> list[QueuedSocket]:
        return list(self._clients)

    async def _pump_tick(self, tick: int) -> None:
        """Every ``BATCH_SECONDS``: the batched ``order_book`` deltas (before the socket faults, so
        that a ``drop`` lets them out first), ``drop`` / ``stall`` faults, then market stats every
        ``STATS_EVERY`` ticks and a server ping every ``PING_EVERY``."""
        for sym in list(self._pending):
            self._flush(sym)
        await self._socket_faults()
        if tick % STATS_EVERY == 0:
            self._push_stats()
        if tick % PING_EVERY == 0:
            for c in self._clients:
                c.send({"type": "ping"})

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
        return await self._serve(request, ws, _WsClient(ws), self._clients, on_text=self._on_ws_frame,
                                 on_binary=self._on_ws_frame, on_open=self._greet)

    @staticmethod
    def _greet(client: _WsClient) -> None:
        client.send({"session_id": str(uuid.uuid4()), "type": "connected"})

    def _on_ws_frame(self, client: _WsClient, data: str | bytes) -> None:
        """A text or binary frame (both carry JSON); a bad message never kills the socket."""
        try:
            self._on_ws_message(client, data if isinstance(data, bytes) else data.encode())
        except Exception:  # noqa: BLE001 - a bad message never kills the socket
            log.exception("%s emulator: ws message failed", EXCHANGE)
            self._ws_error(client, 30007, "Invalid Data")

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
