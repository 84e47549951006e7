"""Aster user-data stream: a listenKey, then raw ``ORDER_TRADE_UPDATE`` / ``ACCOUNT_UPDATE``
frames on ``<ws_url>/ws/<listenKey>``.

Protocol source: docs/exchanges/aster.md §6 (asterdex/api-docs "User Data Streams").

* §6.1: the key comes from the signed ``POST /fapi/v3/listenKey`` (the V3 twin of
  ``POST /fapi/v1/listenKey``; our credentials are a V3 wallet key, signed by ccxt), lives 60 min
  after creation or the last ``PUT /fapi/v3/listenKey`` (sent every 30 min here); on
  ``listenKeyExpired`` the socket is closed and a new key fetched.
* §6.2: ``ORDER_TRADE_UPDATE``: order state (``X``, ``z`` cumulative, ``ap`` average), a fill when
  ``x == "TRADE"`` (``t`` trade id, ``l``/``L`` last qty/price, ``n`` commission in ``N``,
  ``m`` maker). Liquidation: ``x == "CALCULATED"``, order type ``LIQUIDATION``, client id
  ``autoclose-…``/``adl_autoclose`` or status ``NEW_INSURANCE``/``NEW_ADL``.
* §6.3: ``ACCOUNT_UPDATE.a.P``: signed position amount ``pa``, entry ``ep``, unrealized ``up``
  (no liquidation price on this event).
* The stream is handed the listenKey calls (:meth:`AsterClient.create_listen_key`,
  :meth:`AsterClient.keep_alive_listen_key`) and the catalog mapping; it never calls the client.
* REST fill history (``GET /fapi/v3/userTrades``): :meth:`AsterClient.fetch_fills`, with
  :func:`fill_from_user_trade`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp

from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import StreamReset, SymbolOf, UserStream, optional_price, order_status
from .schemas import AccountUpdate, ListenKeyExpired, OrderTradeUpdate, OrderUpdate, UserTrade, decode
from .schemas import UserEvent as AsterUserEvent

EXCHANGE = "aster"
LIVE_WS_URL = "wss://fstream.asterdex.com"
LISTEN_KEY_REFRESH_S = 30 * 60.0
_OPEN = {"NEW", "PARTIALLY_FILLED", "NEW_INSURANCE", "NEW_ADL"}
_LIQUIDATION_STATUS = {"NEW_INSURANCE", "NEW_ADL"}


def is_liquidation(o: OrderUpdate) -> bool:
    """True for the exchange's own liquidation / ADL executions (§6.2)."""
    return (o.x == "CALCULATED" or o.o == "LIQUIDATION" or o.X in _LIQUIDATION_STATUS
            or o.c.startswith("autoclose-") or o.c.startswith("adl_autoclose"))


def fill_from_user_trade(r: UserTrade, symbol: str) -> UserFill:
    """One ``GET /fapi/v3/userTrades`` row as our fill (``commission`` is negative when paid:
    the fee is its opposite, USD)."""
    return UserFill(EXCHANGE, symbol, str(r.orderId), str(r.id), Side.BUY if r.side == "BUY" else Side.SELL,
                    r.qty, r.price, -r.commission, "maker" if r.maker else "taker", r.time / 1000)


class AsterUserStream(UserStream):
    """The listenKey stream of one account (see module doc). ``ws_url``: the stream base
    (``wss://fstream.asterdex.com`` when None); ``create_listen_key()`` returns a new key,
    ``keep_alive_listen_key()`` extends it (both raising the typed errors of
    :mod:`perpdex.errors`); ``symbol_of``: exchange symbol -> canonical."""
    silence_timeout = 30.0  # seconds of silence before the socket is down: as the market feed (docs/RESILIENCE.md)

    exchange = EXCHANGE
    keepalive_interval = LISTEN_KEY_REFRESH_S

    def __init__(self, ws_url: str | None, symbol_of: SymbolOf, *,
                 create_listen_key: Callable[[], Awaitable[str]],
                 keep_alive_listen_key: Callable[[], Awaitable[Any]], **kwargs: Any) -> None:
        super().__init__(symbol_of, **kwargs)
        self.base_url = (ws_url or LIVE_WS_URL).rstrip("/")
        self._create_listen_key = create_listen_key
        self._keep_alive_listen_key = keep_alive_listen_key
        self.listen_key: str | None = None

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        self.listen_key = await self._create_listen_key()
        return await self.connect_ws(session, f"{self.base_url}/ws/{self.listen_key}")

    async def keepalive(self) -> None:
        """``PUT /fapi/v3/listenKey``: extends the key by 60 min (§6.1)."""
        await self._keep_alive_listen_key()

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        ev = decode(AsterUserEvent, data)
        if isinstance(ev, OrderTradeUpdate):
            return self._order_events(ev)
        if isinstance(ev, AccountUpdate):
            ts = (ev.E or time.time() * 1000) / 1000
            return [UserPositionUpdate(EXCHANGE, self.canonical(p.s), p.pa, p.ep if p.pa else Decimal(0),
                                       None, None, p.up, ts)
                    for p in ev.a.P if p.ps in ("BOTH", "")]
        if isinstance(ev, ListenKeyExpired):
            self.listen_key = None
            raise StreamReset("listenKey expired")
        return []

    def _order_events(self, ev: OrderTradeUpdate) -> list[UserEvent]:
        o = ev.o
        symbol = self.canonical(o.s)
        side = Side.BUY if o.S == "BUY" else Side.SELL
        ts = (o.T or ev.E) / 1000
        out: list[UserEvent] = []
        liq = is_liquidation(o)
        if o.x == "TRADE" or (o.x == "CALCULATED" and o.l > 0):
            fee = o.n if o.N in (None, "USDT", "USDC", "USD") else o.n * o.L
            out.append(UserFill(EXCHANGE, symbol, str(o.i), str(o.t), side, o.l, o.L, fee,
                                "maker" if o.m else "taker", ts, o.c or None, liq))
            if liq:
                out.append(UserLiquidation(EXCHANGE, symbol, side, o.l, o.L, ts, str(o.i), str(o.t)))
        status = order_status(o.z, open_=o.X in _OPEN, canceled=o.X in ("CANCELED", "EXPIRED"),
                              rejected=o.X == "REJECTED")
        out.append(UserOrderUpdate(EXCHANGE, symbol, str(o.i), status, o.z, max(o.q - o.z, Decimal(0)),
                                   optional_price(o.ap), side, optional_price(o.p), o.c or None, ts,
                                   o.X if status.is_final and o.X != "FILLED" else None))
        return out
