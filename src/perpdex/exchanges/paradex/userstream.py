"""Paradex user-data stream: JSON-RPC ``auth`` with the JWT, then the private channels
``orders.ALL``, ``fills.ALL`` and ``positions`` on a JSON socket of its own.

Protocol source: docs/exchanges/paradex.md §6 (docs.paradex.trade "subscription channels"),
§5.4 (JWT), §5.5/§5.9 (order and fill objects).

* Auth: ``{"jsonrpc": "2.0", "id": 1, "method": "auth", "params": {"bearer": <jwt>}}``, the JWT
  from ``POST /v1/auth`` (ccxt ``authenticate_rest``, Starknet-signed); the reply must come back
  with a ``result`` before subscribing; errors 40110/40111 raise :class:`AuthenticationError`.
  A fresh JWT on every reconnect (they live minutes).
* ``orders.*``: the order object on every change (``status`` NEW/OPEN/UNTRIGGERED/CLOSED,
  ``remaining_size``, ``avg_fill_price``, ``cancel_reason``); ``fills.*``: one fill per message
  (``id`` fill id, ``fill_type`` LIQUIDATION for our liquidations); ``positions``: signed ``size``,
  ``average_entry_price``, ``liquidation_price`` (may be ``""``).
* The stream is handed the JWT (:meth:`ParadexClient.auth_token`) and the catalog mapping; it
  never calls the client. REST fill history (``GET /v1/fills``, the same objects):
  :meth:`ParadexClient.fetch_fills` with :func:`fill_from_push`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp

from ...errors import AuthenticationError
from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import SymbolOf, UserStream, optional_price, order_status
from . import schemas

EXCHANGE = "paradex"
CHANNELS = ("orders.ALL", "fills.ALL", "positions")
AUTH_TIMEOUT_S = 10.0
_OPEN = {"NEW", "OPEN", "UNTRIGGERED"}
_REJECT_REASONS = {"NOT_ENOUGH_MARGIN", "REDUCE_ONLY_WILL_INCREASE", "ORDER_EXCEEDS_POSITION_LIMIT"}


def fill_from_push(f: schemas.FillPush, symbol: str) -> UserFill:
    return UserFill(EXCHANGE, symbol, f.order_id, f.id, Side.BUY if f.side == "BUY" else Side.SELL, f.size, f.price,
                    f.fee, "maker" if f.liquidity == "MAKER" else "taker", f.created_at / 1000, f.client_id or None,
                    f.fill_type == "LIQUIDATION")


def update_from_push(o: schemas.OrderPush, symbol: str) -> UserOrderUpdate:
    remaining = o.remaining_size if o.remaining_size is not None else o.size
    filled = max(o.size - remaining, Decimal(0))
    open_ = o.status in _OPEN
    status = order_status(filled, open_=open_, canceled=bool(o.cancel_reason),
                          rejected=o.cancel_reason in _REJECT_REASONS and filled == 0)
    return UserOrderUpdate(EXCHANGE, symbol, o.id, status, filled, remaining if open_ else Decimal(0),
                           optional_price(o.avg_fill_price), Side.BUY if o.side == "BUY" else Side.SELL,
                           optional_price(o.price), o.client_id or None, (o.last_updated_at or time.time() * 1000) / 1000,
                           o.cancel_reason or None)


class ParadexUserStream(UserStream):
    """One account's orders, fills and positions (see module doc). ``ws_url``: the JSON socket;
    ``auth_token()`` a fresh JWT (raising the typed errors of :mod:`perpdex.errors`);
    ``symbol_of``: market -> canonical."""
    silence_timeout = 20.0  # seconds of silence before the socket is down: as the market feed (docs/RESILIENCE.md)

    exchange = EXCHANGE
    subscription_acks = len(CHANNELS)

    def __init__(self, ws_url: str, symbol_of: SymbolOf, *, auth_token: Callable[[], Awaitable[str]],
                 **kwargs: Any) -> None:
        super().__init__(symbol_of, **kwargs)
        self.ws_url = ws_url
        self._auth_token = auth_token

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        jwt = await self._auth_token()
        ws = await self.connect_ws(session, self.ws_url)
        try:
            await self.send_json(ws, {"jsonrpc": "2.0", "id": 1, "method": "auth", "params": {"bearer": jwt}})
            await asyncio.wait_for(self._auth_reply(ws), AUTH_TIMEOUT_S)
            for i, ch in enumerate(CHANNELS, start=2):
                await self.send_json(ws, {"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": {"channel": ch}})
        except BaseException:
            await ws.close()
            raise
        return ws

    async def _auth_reply(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = schemas.ws_decoder.decode(msg.data)
            if m.id != 1:
                continue
            if m.error is not None:
                raise AuthenticationError(f"websocket auth refused: {m.error.message}", exchange=EXCHANGE, code=m.error.code)
            return
        raise ConnectionError("socket closed before the auth reply")

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        m = schemas.ws_decoder.decode(data)
        if m.error is not None:
            raise ValueError(f"rpc error {m.error.code}: {m.error.message} ({m.error.data})")
        if m.method != "subscription" or m.params is None:
            if isinstance(m.result, dict) and m.result.get("channel") in CHANNELS:
                self.acknowledged()  # {"result": {"channel": ...}} answers a subscribe
            return []
        ch = m.params.channel
        if ch.startswith("orders."):
            o = schemas.order_push_decoder.decode(m.params.data)
            return [update_from_push(o, self.canonical(o.market))]
        if ch.startswith("fills."):
            f = schemas.fill_push_decoder.decode(m.params.data)
            fill = fill_from_push(f, self.canonical(f.market))
            out: list[UserEvent] = [fill]
            if fill.liquidation:
                out.append(UserLiquidation(EXCHANGE, fill.symbol, fill.side, fill.qty, fill.price, fill.ts,
                                           fill.order_id, fill.trade_id))
            return out
        if ch == "positions":
            p = schemas.position_push_decoder.decode(m.params.data)
            qty = p.size if p.status != "CLOSED" else Decimal(0)
            return [UserPositionUpdate(EXCHANGE, self.canonical(p.market), qty,
                                       (p.average_entry_price or Decimal(0)) if qty else Decimal(0),
                                       optional_price(p.liquidation_price), None, p.unrealized_pnl,
                                       (p.last_updated_at or time.time() * 1000) / 1000)]
        return []
