"""Backpack user-data stream: signed ``SUBSCRIBE`` to ``account.orderUpdate`` and
``account.positionUpdate`` on a socket of its own.

Protocol source: docs/exchanges/backpack.md §6 (docs.backpack.exchange "Streams", private).

* §6.1 auth: ED25519 signature of ``instruction=subscribe&timestamp=<ms>&window=<ms>`` with the
  API secret (base64 seed), sent as ``"signature": [<base64 public key>, <base64 signature>,
  "<timestamp>", "<window>"]`` (all strings).
* §6.2 ``account.orderUpdate``: order state in every event (``X``, ``z`` filled, ``Z`` filled
  quote); ``orderFill`` events are fills (``t`` trade id, ``l``/``L``, ``m`` maker, fee ``n`` in
  ``N``). Origin ``O`` ``LIQUIDATION_AUTOCLOSE`` / ``ADL_AUTOCLOSE`` /
  ``BACKSTOP_LIQUIDITY_PROVIDER`` marks the exchange closing our position.
* §6.3 ``account.positionUpdate``: signed net quantity ``q``, entry ``B``, mark ``M``, unrealized
  ``P``, estimated liquidation ``l`` (``"0"`` = not provided); a snapshot without ``e`` first.
* The stream is handed the signature (:meth:`BackpackClient.subscribe_signature`) and the
  catalog mapping; it never calls the client. REST fill history (``GET /wapi/v1/history/fills``,
  §5.9): :meth:`BackpackClient.fetch_fills` with :func:`fill_from_row`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import SymbolOf, UserStream, optional_price, order_status
from . import schemas

EXCHANGE = "backpack"
STREAMS = ["account.orderUpdate", "account.positionUpdate"]
WINDOW_MS = 5000
_USD = {"USDC", "USD", "USDT", None}
_SYSTEM_ORIGINS = {"LIQUIDATION_AUTOCLOSE", "ADL_AUTOCLOSE", "BACKSTOP_LIQUIDITY_PROVIDER"}
_OPEN = {"New", "PartiallyFilled", "TriggerPending"}


def sign_subscribe(secret_b64: str, api_key: str, timestamp_ms: int, window_ms: int = WINDOW_MS) -> list[str]:
    """The ``signature`` array of a private SUBSCRIBE (§6.1). ``secret_b64``: base64 of the
    32-byte seed (a 64-byte seed‖public encoding works too). Raises ``ValueError`` if malformed."""
    seed = base64.b64decode(secret_b64)[:32]
    if len(seed) != 32:
        raise ValueError("backpack api secret must be the base64 of a 32-byte ED25519 seed")
    msg = f"instruction=subscribe&timestamp={timestamp_ms}&window={window_ms}".encode()
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    return [api_key, base64.b64encode(sig).decode(), str(timestamp_ms), str(window_ms)]


def _seconds(us: int | str | None) -> float:
    return int(us) / 1_000_000 if us not in (None, "") else time.time()


def fill_from_row(r: schemas.FillRow, symbol: str) -> UserFill:
    """One ``GET /wapi/v1/history/fills`` row as our fill (fee in USD: a fee paid in the base
    asset is valued at the fill price; ``systemOrderType`` set = the exchange closed us)."""
    ts = datetime.fromisoformat(r.timestamp).replace(tzinfo=UTC).timestamp()
    fee = r.fee if r.feeSymbol in _USD else r.fee * r.price
    return UserFill(EXCHANGE, symbol, r.orderId, str(r.tradeId), Side.BUY if r.side == "Bid" else Side.SELL,
                    r.quantity, r.price, fee, "maker" if r.isMaker else "taker", ts,
                    str(r.clientId) if r.clientId is not None else None, r.systemOrderType is not None)


class BackpackUserStream(UserStream):
    """One account's order and position updates (see module doc). ``ws_url``: the stream
    endpoint; ``signature()`` the ``signature`` array of a private SUBSCRIBE, signed now
    (:func:`sign_subscribe`; raising :class:`~perpdex.errors.AuthenticationError` without
    credentials); ``symbol_of``: exchange symbol -> canonical."""
    silence_timeout = 30.0  # seconds of silence before the socket is down: as the market feed (docs/RESILIENCE.md)

    exchange = EXCHANGE

    def __init__(self, ws_url: str, symbol_of: SymbolOf, *, signature: Callable[[], Awaitable[list[str]]],
                 **kwargs: Any) -> None:
        super().__init__(symbol_of, **kwargs)
        self.ws_url = ws_url
        self._signature = signature

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        signature = await self._signature()
        ws = await self.connect_ws(session, self.ws_url)
        await self.send_json(ws, {"method": "SUBSCRIBE", "params": STREAMS, "signature": signature})
        return ws  # Backpack acknowledges no subscribe (§4.1)

    def handle_frame(self, data: bytes) -> list[UserEvent]:
        env = schemas.envelope.decode(data)
        if env.error is not None:
            raise ValueError(f"error frame: {env.error}")
        if not env.stream or not env.stream.startswith("account."):
            return []
        if env.stream.startswith("account.orderUpdate"):
            return self._order_events(schemas.order_update_event.decode(env.data))
        if env.stream.startswith("account.positionUpdate"):
            p = schemas.position_update_event.decode(env.data)
            return [UserPositionUpdate(EXCHANGE, self.canonical(p.s), p.q, p.B if p.q else Decimal(0),
                                       optional_price(p.l), p.M, p.P, _seconds(p.E))]
        return []

    def _order_events(self, o: schemas.OrderUpdateEvent) -> list[UserEvent]:
        symbol = self.canonical(o.s)
        side = Side.BUY if o.S == "Bid" else Side.SELL
        ts = _seconds(o.T or o.E)
        cid = str(o.c) if o.c is not None else None
        out: list[UserEvent] = []
        liq = o.O in _SYSTEM_ORIGINS
        if o.e == "orderFill" and o.t is not None:
            fee = o.n if o.N in _USD else o.n * o.L
            out.append(UserFill(EXCHANGE, symbol, o.i, str(o.t), side, o.l, o.L, fee, "maker" if o.m else "taker",
                                ts, cid, liq))
            if liq:
                out.append(UserLiquidation(EXCHANGE, symbol, side, o.l, o.L, ts, o.i, str(o.t)))
        if o.e in ("triggerPlaced", "orderModified") and o.X not in _OPEN:
            return out
        status = order_status(o.z, open_=o.X in _OPEN, canceled=o.X in ("Cancelled", "Expired"),
                              rejected=o.X == "TriggerFailed")
        avg = o.Z / o.z if o.z > 0 else None
        out.append(UserOrderUpdate(EXCHANGE, symbol, o.i, status, o.z, Decimal(0) if status.is_final else max(o.q - o.z, Decimal(0)),
                                   avg, side, o.p, cid, ts, (o.R or o.X) if status.is_final and o.X != "Filled" else None))
        return out
