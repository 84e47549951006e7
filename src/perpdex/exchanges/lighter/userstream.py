"""Lighter user-data stream: private channels of the account on ``/stream`` with an auth token.

Protocol source: docs/exchanges/lighter.md §6 (apidocs.lighter.xyz "WebSocket reference"),
§5.7 (auth tokens), §5.8 (order and trade rows).

* Auth: ``{deadline}:{account_index}:{api_key_index}:{sig}`` from the signer (ccxt
  ``create_auth``, 8 h lifetime, renewed when less than a minute is left), sent as ``"auth"`` in
  every private subscribe; a fresh token on every reconnect.
* Channels: ``account_all_orders/{acct}`` (``orders: {market: [Order]}``),
  ``account_all_trades/{acct}`` (``trades: {market: [Trade]}``; our side is the one whose
  ``ask_account_id``/``bid_account_id`` is ours, fee = ``usd_amount`` x fee / 10^6),
  ``account_all_positions/{acct}`` (``sign`` x ``position``, ``avg_entry_price``,
  ``liquidation_price``), ``notification/{acct}`` (``kind`` liquidation / deleverage items: the
  :class:`UserLiquidation` events; the trade rows of those executions, ``type`` liquidation /
  deleverage, are fills flagged ``liquidation``). Server
  messages name the channel with ``:``; the server's ``{"type": "ping"}`` is answered with a pong.
* The stream is handed the token (:meth:`LighterClient.auth_token`), the account index and the
  catalog mapping; it never calls the client. REST fill history (``GET /api/v1/trades`` through
  ccxt, the stream's trade rows): :meth:`LighterClient.fetch_fills` with
  :func:`fill_from_trade`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp

from ...errors import AuthenticationError
from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import SymbolOf, UserStream, as_decimal, optional_price, order_status
from . import schemas

EXCHANGE = "lighter"
CHANNELS = ("account_all_orders", "account_all_trades", "account_all_positions", "notification")
_OPEN = {"open", "in-progress", "pending"}
_LIQUIDATION_TRADES = {"liquidation", "deleverage"}


def fill_from_trade(t: schemas.AccountTrade, account: int, symbol: str) -> UserFill | None:
    """Our fill in trade row ``t`` (None when neither side is ``account``)."""
    if t.bid_account_id == account:
        side, oid, cid = Side.BUY, t.bid_id, t.bid_client_id
    elif t.ask_account_id == account:
        side, oid, cid = Side.SELL, t.ask_id, t.ask_client_id
    else:
        return None
    maker = t.is_maker_ask == (side is Side.SELL)
    fee = (t.usd_amount or t.size * t.price) * Decimal(t.maker_fee if maker else t.taker_fee) / 1_000_000
    return UserFill(EXCHANGE, symbol, str(oid), str(t.trade_id), side, t.size, t.price, fee,
                    "maker" if maker else "taker", t.timestamp / 1000, str(cid) if cid else None,
                    t.type in _LIQUIDATION_TRADES)


def update_from_order(o: schemas.AccountOrder, symbol: str) -> UserOrderUpdate:
    status = order_status(o.filled_base_amount, open_=o.status in _OPEN, canceled=o.status.startswith("canceled"))
    avg = o.filled_quote_amount / o.filled_base_amount if o.filled_base_amount > 0 else None
    return UserOrderUpdate(EXCHANGE, symbol, str(o.order_index), status, o.filled_base_amount,
                           Decimal(0) if status.is_final else o.remaining_base_amount, avg,
                           Side.SELL if o.is_ask else Side.BUY, optional_price(o.price),
                           str(o.client_order_index) if o.client_order_index else None,
                           float(o.updated_at or time.time()),
                           o.status if status.is_final and o.status != "filled" else None)


class LighterUserStream(UserStream):
    """One account's channels on their own socket (see module doc). ``ws_url``: the ``/stream``
    endpoint; ``account()`` the account index (called when needed, so a missing account fails
    at connect, with the client's :class:`~perpdex.errors.ConfigError`); ``auth_token()`` a valid
    auth token (raising the typed errors of :mod:`perpdex.errors`); ``symbol_of``: market id ->
    canonical."""
    silence_timeout = 30.0  # seconds of silence before the socket is down: as the market feed (docs/RESILIENCE.md)

    exchange = EXCHANGE
    subscription_acks = len(CHANNELS)  # the first ``subscribed/<name>`` message acknowledges (§4.2)

    def __init__(self, ws_url: str, symbol_of: SymbolOf, *, account: Callable[[], int],
                 auth_token: Callable[[], Awaitable[str]], **kwargs: Any) -> None:
        super().__init__(symbol_of, **kwargs)
        self.ws_url = ws_url
        self._account = account
        self._auth_token = auth_token

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        token = await self._auth_token()
        acct = self._account()
        ws = await self.connect_ws(session, self.ws_url)
        for ch in CHANNELS:
            await self.send_json(ws, {"type": "subscribe", "channel": f"{ch}/{acct}", "auth": token})
        return ws

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        f = schemas.ws_account_frame.decode(data)
        if f.error is not None:
            if f.error.code in (30012, 20013):
                raise AuthenticationError(f"subscribe refused: {f.error.message}", exchange=EXCHANGE, code=f.error.code)
            raise ValueError(f"error frame {f.error.code}: {f.error.message}")
        if f.type == "ping":
            self.outbox.append({"type": "pong"})
            return []
        if f.type.startswith("subscribed/"):
            self.acknowledged()
        acct = self._account()
        out: list[UserEvent] = []
        for market, orders in (f.orders or {}).items():
            sym = self.canonical(market)
            out.extend(update_from_order(o, sym) for o in orders)
        for market, trades in (f.trades or {}).items():
            sym = self.canonical(market)
            for t in trades:
                fill = fill_from_trade(t, acct, sym)
                if fill is not None:
                    out.append(fill)  # a liquidation trade is flagged; the event comes as a notification
        for market, p in (f.positions or {}).items():
            sym = self.canonical(market)
            qty = p.position * (-1 if p.sign < 0 else 1)
            mark = p.position_value / p.position if p.position > 0 else None
            out.append(UserPositionUpdate(EXCHANGE, sym, qty, p.avg_entry_price if qty else Decimal(0),
                                          optional_price(p.liquidation_price), mark, p.unrealized_pnl, time.time()))
        for n in f.notifs:
            if n.kind in ("liquidation", "deleverage"):
                out.append(self._liquidation(n.content))
        return out

    def _liquidation(self, c: dict[str, Any]) -> UserLiquidation:
        sym = self.canonical(str(c["market_index"]))
        ts = as_decimal(c.get("timestamp"))
        return UserLiquidation(EXCHANGE, sym, Side.SELL if c.get("is_ask") else Side.BUY, as_decimal(c.get("size")),
                               as_decimal(c.get("avg_price") or c.get("price")),
                               float(ts / 1000 if ts > 10**11 else ts), None,
                               str(c["id"]) if c.get("id") is not None else None)
