"""Backpack user-data stream: signed ``SUBSCRIBE`` to ``account.orderUpdate`` and
``account.positionUpdate`` on a socket of its own.

Protocol source: shared/protocols/backpack.md §6 (docs.backpack.exchange "Streams", private).

* §6.1 auth: ED25519 signature of ``instruction=subscribe&timestamp=<ms>&window=<ms>`` with the
  API secret (base64 seed), sent as ``"signature": [<base64 public key>, <base64 signature>,
  "<timestamp>", "<window>"]`` (all strings).
* §6.2 ``account.orderUpdate``: order state in every event (``X``, ``z`` filled, ``Z`` filled
  quote); ``orderFill`` events are fills (``t`` trade id, ``l``/``L``, ``m`` maker, fee ``n`` in
  ``N``). Origin ``O`` ``LIQUIDATION_AUTOCLOSE`` / ``ADL_AUTOCLOSE`` /
  ``BACKSTOP_LIQUIDITY_PROVIDER`` marks the exchange closing our position.
* §6.3 ``account.positionUpdate``: signed net quantity ``q``, entry ``B``, mark ``M``, unrealized
  ``P``, estimated liquidation ``l`` (``"0"`` = not provided); a snapshot without ``e`` first.
* Reconciliation fills: ``GET /wapi/v1/history/fills?symbol=`` (§5.9, signed by ccxt).
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ...errors import AuthenticationError
from ...models import Side, UserEvent, UserFill, UserLiquidation, UserOrderUpdate, UserPositionUpdate
from ..userstream import UserStream, optional_price, order_status
from . import schemas

if TYPE_CHECKING:
    from .client import BackpackClient

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


class BackpackUserStream(UserStream):
    """The client's order and position updates (see module doc)."""

    exchange = EXCHANGE

    def __init__(self, client: "BackpackClient", **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.backpack = client

    async def open_socket(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        ccxt_client = self.backpack.private.client
        key, secret = ccxt_client.apiKey, ccxt_client.secret
        if not key or not secret:
            raise AuthenticationError("no API key configured (credentials.api_key / api_secret)", exchange=EXCHANGE)
        try:
            signature = sign_subscribe(secret, key, int(time.time() * 1000))
        except (ValueError, TypeError) as exc:
            raise AuthenticationError(f"cannot sign the private subscribe: {exc}", exchange=EXCHANGE) from None
        ws = await self.connect_ws(session, self.backpack.ws_url)
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

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """``GET /wapi/v1/history/fills?symbol=`` (last 100) as fills."""
        priv = self.backpack.private
        await priv._ensure()
        with priv.translate_errors():
            rows = await priv.client.privateGetWapiV1HistoryFills(
                {"symbol": self.backpack.symbols.dex_symbol(symbol), "limit": 100})
        out = []
        for raw in rows or []:
            r = msgspec.convert(raw, schemas.FillRow, strict=False)
            ts = datetime.fromisoformat(r.timestamp).replace(tzinfo=timezone.utc).timestamp()
            fee = r.fee if r.feeSymbol in _USD else r.fee * r.price
            out.append(UserFill(EXCHANGE, symbol, r.orderId, str(r.tradeId), Side.BUY if r.side == "Bid" else Side.SELL,
                                r.quantity, r.price, fee, "maker" if r.isMaker else "taker", ts,
                                str(r.clientId) if r.clientId is not None else None, r.systemOrderType is not None))
        return out
