"""Private operations (orders, cancels, positions, balance, leverage) through ccxt, for any
exchange, with ccxt's errors mapped onto :mod:`perpdex.errors`.

Signing (EIP-712, HMAC, ED25519, Starknet, Lighter's signer) is ccxt's business. Each exchange
client builds the ``ccxt.async_support.<name>`` instance (URLs, credentials, options) and a symbol
mapper (canonical ``"BTC"`` -> ccxt unified ``"BTC/USDT:USDT"``), and may pass exchange-specific
``params`` per call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt

from .. import errors
from ..models import ExchangePositionSnapshot, OrderInfo, OrderResult, OrderStatus, Side
from ..secrets import redact

log = logging.getLogger(__name__)

# Order matters: subclasses before their bases.
_ERROR_MAP: list[tuple[type[Exception], type[errors.ExchangeError]]] = [
    (ccxt.OrderNotFound, errors.OrderNotFound),
    (ccxt.InsufficientFunds, errors.InsufficientMargin),
    (ccxt.RateLimitExceeded, errors.RateLimited),
    (ccxt.DDoSProtection, errors.RateLimited),
    (ccxt.AuthenticationError, errors.AuthenticationError),
    (ccxt.PermissionDenied, errors.AuthenticationError),
    (ccxt.BadSymbol, errors.MarketNotFound),
    (ccxt.InvalidOrder, errors.InvalidOrder),
    (ccxt.OperationRejected, errors.InvalidOrder),  # e.g. Aster -2022 reduce-only rejected
    (ccxt.BadRequest, errors.InvalidOrder),
    (ccxt.NetworkError, errors.NetworkError),
    (ccxt.ExchangeError, errors.ExchangeError),
    (ccxt.BaseError, errors.ExchangeError),
]

_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def _dec(x: Any, default: Decimal | None = Decimal(0)) -> Decimal | None:
    if x is None or x == "":
        return default
    return Decimal(str(x))


def merge_config(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in recursively (``extra`` wins), for ccxt constructor
    configs: nested dicts (``urls.api``, ``options``) merge key by key. Neither input is changed."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge_config(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def map_ccxt_error(exc: Exception, exchange: str, secrets: list[str] | None = None) -> errors.ExchangeError:
    """The typed perpdex error for a ccxt exception (message redacted of ``secrets``)."""
    msg = redact(str(exc), secrets or [])
    for ccxt_cls, ours in _ERROR_MAP:
        if isinstance(exc, ccxt_cls):
            return ours(msg, exchange=exchange)
    return errors.ExchangeError(msg, exchange=exchange)


def order_status(raw_status: str | None, filled: Decimal) -> OrderStatus:
    status = _STATUS.get((raw_status or "open").lower())
    if status is not None:
        return status
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN


class CcxtPrivate:
    """Wraps one ``ccxt.async_support`` instance. ``to_ccxt_symbol`` maps canonical -> unified;
    ``settle`` is the margin currency whose free balance is the available margin (USDT, USDC)."""

    def __init__(
        self,
        exchange: str,
        client: Any,
        to_ccxt_symbol: Callable[[str], str],
        *,
        settle: str = "USDT",
        secrets: list[str] | None = None,
    ) -> None:
        self.exchange = exchange
        self.client = client
        self.to_ccxt_symbol = to_ccxt_symbol
        self.settle = settle
        self._secrets = secrets or []
        self._loaded = False

    @contextlib.contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Re-raise ccxt errors as perpdex errors (never leaking credentials)."""
        try:
            yield
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, self.exchange, self._secrets) from None

    async def load_markets(self) -> dict[str, Any]:
        with self.translate_errors():
            markets = await self.client.load_markets()
        self._loaded = True
        return markets

    async def ensure_markets(self) -> None:
        """Load the ccxt market catalog once (``load_markets`` on first use); every private call
        here does it first, a client calling the ccxt instance directly calls it itself."""
        if not self._loaded:
            await self.load_markets()

    # -- orders ----------------------------------------------------------------------------------
    def to_result(self, raw: dict[str, Any], side: Side, quantity: Decimal, price: Decimal | None) -> OrderResult:
        filled = _dec(raw.get("filled")) or Decimal(0)
        return OrderResult(
            success=True,
            order_id=str(raw["id"]) if raw.get("id") is not None else None,
            side=side,
            size=_dec(raw.get("amount"), quantity) or quantity,
            price=_dec(raw.get("price"), price),
            status=order_status(raw.get("status"), filled),
            filled_size=filled,
            average_price=_dec(raw.get("average"), None),
            fee=_dec((raw.get("fee") or {}).get("cost")) or Decimal(0),
            client_order_id=raw.get("clientOrderId"),
        )

    def to_info(self, symbol: str, raw: dict[str, Any]) -> OrderInfo:
        filled = _dec(raw.get("filled")) or Decimal(0)
        amount = _dec(raw.get("amount")) or Decimal(0)
        remaining = _dec(raw.get("remaining"), None)
        return OrderInfo(
            order_id=str(raw.get("id")),
            symbol=symbol,
            side=Side(raw.get("side") or "buy"),
            size=amount,
            price=_dec(raw.get("price"), None),
            status=order_status(raw.get("status"), filled),
            filled_size=filled,
            remaining_size=remaining if remaining is not None else max(amount - filled, Decimal(0)),
            average_price=_dec(raw.get("average"), None),
            fee=_dec((raw.get("fee") or {}).get("cost")) or Decimal(0),
            reduce_only=bool(raw.get("reduceOnly")),
            client_order_id=raw.get("clientOrderId"),
            trigger_price=_dec(raw.get("triggerPrice") or raw.get("stopPrice"), None),
        )

    async def create_order(
        self,
        symbol: str,
        order_type: str,
        side: Side,
        quantity: Decimal,
        price: Decimal | None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """ccxt ``create_order``; ``quantity`` base units, ``price`` quote units (None for market
        unless the exchange needs a slippage cap). Returns ccxt's unified order dict."""
        await self.ensure_markets()
        with self.translate_errors():
            return await self.client.create_order(
                self.to_ccxt_symbol(symbol), order_type, side.value, float(quantity),
                float(price) if price is not None else None, params or {},
            )

    async def cancel_order(self, symbol: str, order_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.ensure_markets()
        with self.translate_errors():
            return await self.client.cancel_order(order_id, self.to_ccxt_symbol(symbol), params or {})

    async def fetch_order(self, symbol: str, order_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.ensure_markets()
        with self.translate_errors():
            return await self.client.fetch_order(order_id, self.to_ccxt_symbol(symbol), params or {})

    async def fetch_open_orders(self, symbol: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        await self.ensure_markets()
        with self.translate_errors():
            return await self.client.fetch_open_orders(self.to_ccxt_symbol(symbol), None, None, params or {})

    async def open_orders(self, symbol: str) -> list[OrderInfo]:
        """Open orders on ``symbol`` as :class:`OrderInfo`."""
        return [self.to_info(symbol, raw) for raw in await self.fetch_open_orders(symbol)]

    # -- account ---------------------------------------------------------------------------------
    async def fetch_position(self, symbol: str, params: dict[str, Any] | None = None) -> ExchangePositionSnapshot | None:
        """Signed position (+long/-short, base units) for ``symbol`` or None when flat."""
        await self.ensure_markets()
        unified = self.to_ccxt_symbol(symbol)
        with self.translate_errors():
            rows = await self.client.fetch_positions([unified], params or {})
        for row in rows:
            if row.get("symbol") != unified:
                continue
            contracts = _dec(row.get("contracts")) or Decimal(0)
            size = contracts * (_dec(row.get("contractSize"), Decimal(1)) or Decimal(1))
            if size == 0:
                continue
            sign = -1 if (row.get("side") == "short") else 1
            return ExchangePositionSnapshot(
                exchange=self.exchange,
                symbol=symbol,
                quantity=size * sign,
                entry_price=_dec(row.get("entryPrice")) or Decimal(0),
                mark_price=_dec(row.get("markPrice"), None),
                unrealized_pnl=_dec(row.get("unrealizedPnl")) or Decimal(0),
                leverage=_dec(row.get("leverage"), None),
                liquidation_price=_dec(row.get("liquidationPrice"), None),
                margin_used=_dec(row.get("initialMargin"), None),
            )
        return None

    async def fetch_available_balance(self, params: dict[str, Any] | None = None) -> Decimal:
        """Free ``settle`` balance in USD (what new positions can use)."""
        await self.ensure_markets()
        with self.translate_errors():
            bal = await self.client.fetch_balance(params or {})
        free = (bal.get("free") or {}).get(self.settle)
        if free is None:
            free = (bal.get(self.settle) or {}).get("free")
        return _dec(free) or Decimal(0)

    async def set_leverage(self, symbol: str, leverage: Decimal, params: dict[str, Any] | None = None) -> Any:
        await self.ensure_markets()
        with self.translate_errors():
            return await self.client.set_leverage(int(leverage), self.to_ccxt_symbol(symbol), params or {})

    async def close(self) -> None:
        try:
            await self.client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("%s: ccxt close failed", self.exchange, exc_info=True)
