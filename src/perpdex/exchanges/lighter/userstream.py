"""Lighter user-data stream: private channels of the account on ``/stream`` with an auth token.

Protocol source: shared/protocols/lighter.md §6 (apidocs.lighter.xyz "WebSocket reference"),
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
* Reconciliation fills: ``GET /api/v1/trades?account_index=&market_id=`` with the token (ccxt
  ``fetch_my_trades``), decoded as the stream's trade rows.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec

from ...errors import AuthenticationError
from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import UserStream, as_decimal, optional_price, order_status
from . import schemas

if TYPE_CHECKING:
    from .client import LighterClient

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
    """The client's account channels on their own socket (see module doc)."""

    exchange = EXCHANGE
    subscription_acks = len(CHANNELS)  # the first ``subscribed/<name>`` message acknowledges (§4.2)

    def __init__(self, client: "LighterClient", **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.lighter = client

    def _token(self) -> str:
        """A valid auth token (ccxt's signer; cached until a minute before its deadline)."""
        c = self.lighter.private.client
        acct = str(self.lighter.account_index)
        idx = str(c.options.get("apiKeyIndex"))
        with self.lighter.private.translate_errors():
            return str(c.create_auth({"accountIndex": acct, "apiKeyIndex": idx}))

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        priv = self.lighter.private
        await priv._ensure()
        with priv.translate_errors():
            await priv.client.pre_load_lighter_library()
        token = self._token()
        acct = self.lighter.account_index
        ws = await self.connect_ws(session, self.lighter.ws_url)
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
        acct = self.lighter.account_index
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

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our last 100 trades of ``symbol`` (``GET /api/v1/trades``, via ccxt) as fills."""
        priv = self.lighter.private
        await priv._ensure()
        with priv.translate_errors():
            rows = await priv.client.fetch_my_trades(self.lighter.symbols.ccxt_symbol(symbol), None, 100)
        acct = self.lighter.account_index
        out = []
        for r in rows:
            fill = fill_from_trade(msgspec.convert(r["info"], schemas.AccountTrade, strict=False), acct, symbol)
            if fill is not None:
                out.append(fill)
        return out
