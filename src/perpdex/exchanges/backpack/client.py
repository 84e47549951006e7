"""The Backpack exchange client: native market data, private operations through ccxt, and native
calls (signed by ccxt's implicit API) where ccxt 4.5.90 does not model Backpack.

* Catalog: ``GET /api/v1/markets`` (perps only): tick = ``filters.price.tickSize``, lot =
  ``filters.quantity.stepSize``, min size = ``minQuantity`` (base units), no min notional,
  max leverage = ``filters.leverage.maxLeverage`` when present, else 1 / ``imfFunction.base``;
  maintenance margin fraction = ``mmfFunction.base`` (the small-size MMF, §2.2);
  active = ``orderBookState == "Open"`` and visible. Fees: settings override, else the account's
  ``futuresTakerFee``/``futuresMakerFee`` (basis points) when credentials are set.
* REST depth: ``GET /api/v1/depth`` (both sides ascending on the wire; re-sorted here). Live books:
  :class:`~perpdex.exchanges.backpack.feed.BackpackMarketFeed`.
* Orders, cancels, order lookup: ``ccxt.async_support.backpack`` via
  :class:`~perpdex.exchanges.ccxt_private.CcxtPrivate`. Client order ids are **uint32 integers**
  (ccxt drops string ids); post-only is a flag.
* Native (protocol doc §7.2 says ccxt gets these wrong or lacks them): positions from
  ``GET /api/v1/position`` (signed ``netQuantity``; ccxt reports ``netExposureQuantity``, which
  includes open orders), available margin from ``GET /api/v1/capital/collateral``
  (``netEquityAvailable``; ccxt's ``fetch_balance`` reads the spot wallet), leverage
  **account-wide** via ``PATCH /api/v1/account {"leverageLimit"}`` (ccxt has no
  ``set_leverage``), funding payments from ``GET /wapi/v1/history/funding``.
* Errors: Backpack's ``code`` narrows ccxt's mapping (ccxt maps ``RESOURCE_NOT_FOUND`` to
  ExchangeNotAvailable): see :func:`refine_error`.

Source of every fact: docs/exchanges/backpack.md (§2.2, §3.2, §5, §7).
"""

from __future__ import annotations

import copy
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import msgspec

from ...book import depth_from_levels
from ...errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    InsufficientMargin,
    InvalidOrder,
    MarketNotFound,
    OrderNotFound,
    RateLimited,
)
from ...models import (
    ContractAttributes,
    ExchangePositionSnapshot,
    FundingPayment,
    LeverageInfo,
    OrderInfo,
    OrderResult,
    SettledFunding,
    Side,
    UserFill,
)
from ..base import Depth, ExchangeClient, ExchangeSettings
from ..ccxt_private import CcxtPrivate, merge_config
from ..credentials import base64_bytes
from . import schemas
from .feed import DEFAULT_WS_URL, BackpackMarketFeed
from .funding import funding_history_pages, parse_naive_iso, perp_markets
from .rest import BackpackRest
from .signing import self_test as _signer_self_test
from .symbols import BackpackSymbols
from .userstream import BackpackUserStream, fill_from_row, sign_subscribe

log = logging.getLogger(__name__)

#: perpdex trigger reference -> Backpack ``triggerBy``
_TRIGGER_BY = {"mark": "MarkPrice", "last": "LastPrice"}

EXCHANGE = "backpack"
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
BPS = Decimal(10_000)
_CODE = re.compile(r'"code"\s*:\s*"([A-Z_]+)"')
_MARGIN = {"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MAX_LEVERAGE_REACHED"}
_INVALID = {"INVALID_ORDER", "INVALID_PRICE", "INVALID_QUANTITY", "INVALID_CLIENT_REQUEST", "ORDER_LIMIT",
            "POSITION_LIMIT"}
_AUTH = {"INVALID_SIGNATURE", "UNAUTHORIZED", "FORBIDDEN"}


def _whole(x: Decimal) -> Decimal:
    """``x`` rounded to 0.01, as an integer-valued Decimal when it is one (50, not 5E+1)."""
    q = x.quantize(Decimal("0.01"))
    return q.quantize(Decimal(1)) if q == q.to_integral_value() else q.normalize()


def refine_error(exc: ExchangeError, *, not_found: bool = True) -> ExchangeError:
    """Narrow a ccxt-mapped error by the Backpack ``code`` in its message:
    ``RESOURCE_NOT_FOUND`` -> :class:`OrderNotFound` (when ``not_found``),
    ``INSUFFICIENT_MARGIN``/``INSUFFICIENT_FUNDS``/``MAX_LEVERAGE_REACHED`` ->
    :class:`InsufficientMargin`, ``TOO_MANY_REQUESTS`` -> :class:`RateLimited`,
    ``INVALID_SIGNATURE``/``UNAUTHORIZED``/``FORBIDDEN`` -> :class:`AuthenticationError`,
    ``INVALID_*`` order codes -> :class:`InvalidOrder`, ``INVALID_MARKET``/``INVALID_SYMBOL`` ->
    :class:`MarketNotFound`. Anything else is returned unchanged."""
    m = _CODE.search(str(exc))
    code = m.group(1) if m else None
    msg = str(exc).removeprefix(f"[{EXCHANGE}] ")
    cls: type[ExchangeError] | None = None
    if code == "RESOURCE_NOT_FOUND" and not_found:
        cls = OrderNotFound
    elif code in _MARGIN:
        cls = InsufficientMargin
    elif code == "TOO_MANY_REQUESTS":
        cls = RateLimited
    elif code in _AUTH:
        cls = AuthenticationError
    elif code in _INVALID:
        cls = InvalidOrder
    elif code in ("INVALID_MARKET", "INVALID_SYMBOL"):
        cls = MarketNotFound
    if cls is None or type(exc) is cls:
        if code is not None:
            exc.code = code
        return exc
    return cls(msg, exchange=EXCHANGE, code=code)


def parse_catalog(body: bytes, symbols: BackpackSymbols, taker: Decimal | None = None,
                  maker: Decimal | None = None) -> dict[str, ContractAttributes]:
    """Perp rows of a ``/api/v1/markets`` body (spot and other types dropped; closed or hidden
    perps kept with ``active=False``): canonical symbol -> attributes. Registers names in
    ``symbols``. ``taker``/``maker`` fractions (default 0)."""
    out: dict[str, ContractAttributes] = {}
    for sym, m in perp_markets(body, symbols).items():
        lev = m.filters.leverage.maxLeverage if m.filters.leverage is not None else None
        if lev is None and m.imfFunction is not None and m.imfFunction.base > 0:
            lev = _whole(Decimal(1) / m.imfFunction.base)
        out[sym] = ContractAttributes(
            exchange=EXCHANGE, symbol=sym, contract_id=m.symbol, tick_size=m.filters.price.tickSize,
            lot_size=m.filters.quantity.stepSize, min_size=m.filters.quantity.minQuantity or Decimal(0),
            min_notional=Decimal(0), max_leverage=lev if lev is not None else Decimal(1),
            taker_fee=taker if taker is not None else Decimal(0), maker_fee=maker if maker is not None else Decimal(0),
            active=m.orderBookState == "Open" and m.visible, multiplier=Decimal(symbols.multiplier(sym)),
            maintenance_margin_fraction=m.mmfFunction.base if m.mmfFunction is not None and m.mmfFunction.base > 0 else None,
        )
    return out


def parse_depth(body: bytes, levels: int) -> Depth:
    """A ``/api/v1/depth`` body -> ``{'bids': [{'price', 'size'}], 'asks': [...]}`` Decimal,
    bids descending and asks ascending whatever the wire order; zero levels dropped."""
    d = schemas.depth.decode(body)
    return depth_from_levels(schemas.levels(d.bids, "bids"), schemas.levels(d.asks, "asks"), levels)


def position_from_rows(rows: Any, dex: str, symbol: str) -> ExchangePositionSnapshot | None:
    """The signed position for ``dex`` in ``/api/v1/position`` rows, None when flat/absent.
    Size = ``netQuantity`` (signed base units), leverage = 1 / ``imf``, liquidation price =
    ``estLiquidationPrice`` (None when 0, Backpack's placeholder), cumulative funding USD."""
    for raw in rows or []:
        if not isinstance(raw, dict) or raw.get("symbol") != dex:
            continue
        try:
            p = msgspec.convert(raw, schemas.Position, strict=False)
        except msgspec.ValidationError as exc:
            raise ExchangeError(f"malformed position row for {dex}: {exc}", exchange=EXCHANGE) from None
        if p.netQuantity == 0:
            return None
        imf = p.imf if p.imf and p.imf > 0 else None
        return ExchangePositionSnapshot(
            exchange=EXCHANGE, symbol=symbol, quantity=p.netQuantity, entry_price=p.entryPrice,
            mark_price=p.markPrice, unrealized_pnl=p.pnlUnrealized,
            leverage=_whole(Decimal(1) / imf) if imf else None,
            liquidation_price=p.estLiquidationPrice or None,
            margin_used=(abs(p.netQuantity) * (p.markPrice or p.entryPrice) * imf) if imf else None,
            cumulative_funding=p.cumulativeFundingPayment,
        )
    return None


def funding_payments(rows: Any, dex: str, symbol: str, since: datetime) -> list[FundingPayment]:
    """``/wapi/v1/history/funding`` rows of ``dex`` at or after ``since`` as
    :class:`FundingPayment` (``quantity`` USD, + received / - paid; ``fundingRate`` per
    interval), oldest first. Malformed rows are skipped with a warning."""
    out: list[FundingPayment] = []
    for raw in rows or []:
        try:
            row = msgspec.convert(raw, schemas.FundingPaymentRow, strict=False)
            if row.symbol != dex:
                continue
            ts = parse_naive_iso(row.intervalEndTimestamp)
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            log.warning("%s %s: skipped malformed funding row (%s)", EXCHANGE, symbol, exc)
            continue
        if ts >= since:
            out.append(FundingPayment(EXCHANGE, symbol, row.quantity, row.fundingRate, ts))
    out.sort(key=lambda p: p.ts)
    return out


class BackpackClient(ExchangeClient):
    """Backpack perpetuals. ``settings.credentials``: ``api_key`` (base64 ED25519 public key) and
    ``api_secret`` (base64 seed); never logged. ``settings.options["ccxt"]``: extra ccxt
    constructor config (the emulator's; deep-copied, then deep-merged over URLs/credentials)."""

    name = EXCHANGE
    #: credential fields (``settings.credentials``; ``perpdex accounts add`` asks for these)
    signer_self_test = staticmethod(_signer_self_test)
    CREDENTIAL_FIELDS: tuple[str, ...] = ("api_key", "api_secret")
    CREDENTIAL_OPTIONAL: tuple[str, ...] = ()
    CREDENTIAL_FORMATS = {"api_key": base64_bytes(32), "api_secret": base64_bytes(32, 64)}  # ed25519, base64
    #: dotted paths of the ccxt constructor config that carry credentials: dropped from the
    #: emulator's ccxt config when an account brings its own
    CCXT_CREDENTIAL_PATHS: tuple[str, ...] = ("apiKey", "secret")
    leverage_model = "account"  # PATCH /api/v1/account {"leverageLimit"} caps every market (§5.8)

    def __init__(self, settings: ExchangeSettings) -> None:
        self.rest = BackpackRest(settings.rest_url)
        self.rest_url = self.rest.base_url
        self.ws_url = settings.ws_url or DEFAULT_WS_URL
        self.symbols = BackpackSymbols()
        self._private: CcxtPrivate | None = None
        self._fees: tuple[Decimal, Decimal] | None = None
        super().__init__(settings)

    # -- lifecycle ----------------------------------------------------------------------------------
    def _make_user_stream(self) -> BackpackUserStream:
        """Orders, fills, positions on their own socket (see :mod:`.userstream`)."""
        return BackpackUserStream(self.ws_url, self.symbol_of, signature=self.subscribe_signature)

    async def subscribe_signature(self) -> list[str]:
        """The ``signature`` array of a private stream SUBSCRIBE signed now with this account's
        API key (§6.1: ``[api key, base64 ED25519 signature, timestamp ms, window ms]``). Raises
        :class:`AuthenticationError` without credentials or with a malformed secret."""
        ccxt_client = self.private.client
        key, secret = ccxt_client.apiKey, ccxt_client.secret
        if not key or not secret:
            raise AuthenticationError("no API key configured (credentials.api_key / api_secret)", exchange=EXCHANGE)
        try:
            return sign_subscribe(secret, key, int(time.time() * 1000))
        except (ValueError, TypeError) as exc:
            raise AuthenticationError(f"cannot sign the private subscribe: {exc}", exchange=EXCHANGE) from None

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our last 100 fills of ``symbol`` (signed ``GET /wapi/v1/history/fills?symbol=``, §5.9):
        quantity base units, price and fee USD, ``ts`` epoch s. Raises :class:`ExchangeError`."""
        priv = self.private
        await priv.ensure_markets()
        with priv.translate_errors():
            rows = await priv.client.privateGetWapiV1HistoryFills(
                {"symbol": self.symbols.name(symbol), "limit": 100})
        return [fill_from_row(msgspec.convert(raw, schemas.FillRow, strict=False), symbol) for raw in rows or []]

    def _make_feed(self) -> BackpackMarketFeed:
        return BackpackMarketFeed(self.ws_url, rest_url=self.rest_url, symbols=self.symbols,
                                  funding_stream=bool(self.settings.options.get("funding_stream", False)))


    @property
    def has_credentials(self) -> bool:
        return bool(self.settings.credentials) or bool((self.settings.options.get("ccxt") or {}).get("secret"))

    def _ccxt_config(self) -> dict[str, Any]:
        creds = self.settings.credentials
        extra = copy.deepcopy(self.settings.options.get("ccxt") or {})
        config: dict[str, Any] = {"urls": {"api": {"public": self.rest_url, "private": self.rest_url,
                                                   "ws": {"public": self.ws_url, "private": self.ws_url}}}}
        if creds:
            if not creds.get("api_key") or not creds.get("api_secret"):
                raise ConfigError("exchanges.backpack.credentials", "needs api_key and api_secret (base64)")
            config["apiKey"] = str(creds["api_key"])
            config["secret"] = str(creds["api_secret"])
        return merge_config(config, extra)

    def _secrets(self, config: dict[str, Any]) -> list[str]:
        vals = [self.settings.credentials.get("api_secret"), self.settings.credentials.get("api_key"),
                config.get("secret"), config.get("apiKey")]
        return [str(v) for v in vals if v]

    @property
    def private(self) -> CcxtPrivate:
        """The ccxt wrapper (created on first use)."""
        if self._private is None:
            config = self._ccxt_config()
            self._private = CcxtPrivate(EXCHANGE, ccxt_async.backpack(config), self.symbols.ccxt_symbol,
                                        settle="USDC", secrets=self._secrets(config))
        return self._private

    async def connect(self) -> None:
        """Load the catalog; with credentials, also ccxt's markets."""
        await self.load_contracts()
        if self.has_credentials:
            await self.private.load_markets()

    def _use_rest_session(self, session: Any) -> None:
        self.rest.use_session(session)

    async def close(self) -> None:
        await super().close()
        if self._private is not None:
            await self._private.close()
            self._private = None
        await self.rest.close()

    async def _call(self, method: str, params: dict[str, Any] | None = None, *, not_found: bool = True) -> Any:
        """A signed call through ccxt's implicit API (``privateGetApiV1Position`` ...), errors
        mapped and refined (:func:`refine_error`)."""
        p = self.private
        await p.ensure_markets()
        try:
            with p.translate_errors():
                return await getattr(p.client, method)(params or {})
        except ExchangeError as exc:
            raise refine_error(exc, not_found=not_found) from None

    # -- catalog ------------------------------------------------------------------------------------
    async def _account_fees(self) -> tuple[Decimal, Decimal]:
        """(taker, maker) fractions from ``GET /api/v1/account`` (basis points on the wire)."""
        if self._fees is None:
            acct = msgspec.convert(await self._call("privateGetApiV1Account", not_found=False), schemas.Account, strict=False)
            self._fees = ((acct.futuresTakerFee or Decimal(0)) / BPS, (acct.futuresMakerFee or Decimal(0)) / BPS)
        return self._fees

    async def load_contracts(self) -> dict[str, ContractAttributes]:
        """Perps of ``/api/v1/markets`` as :class:`ContractAttributes` (see module doc)."""
        body = await self.rest.get("/api/v1/markets", {"marketType": "PERP"})
        taker, maker = self.settings.taker_fee, self.settings.maker_fee
        if (taker is None or maker is None) and self.has_credentials:
            try:
                acct_taker, acct_maker = await self._account_fees()
                taker = acct_taker if taker is None else taker
                maker = acct_maker if maker is None else maker
            except ExchangeError as exc:
                log.warning("%s: account fees unavailable (%s); using 0", EXCHANGE, exc)
        self._contracts = parse_catalog(body, self.symbols, taker, maker)
        return self._contracts

    # -- market data ----------------------------------------------------------------------------------
    async def fetch_order_book_rest(self, symbol: str, levels: int = 10) -> Depth:
        """``GET /api/v1/depth`` (limit rounded up to 5/10/20/50/100/500/1000): Decimal levels,
        bids descending, asks ascending; empty side = []."""
        c = await self.contract_attributes(symbol)
        limit = next((n for n in DEPTH_LIMITS if n >= levels), DEPTH_LIMITS[-1])
        body = await self.rest.get("/api/v1/depth", {"symbol": c.contract_id, "limit": str(limit)})
        return parse_depth(body, levels)

    # -- orders ---------------------------------------------------------------------------------------
    @staticmethod
    def _client_id(client_order_id: str | None) -> int:
        """Backpack client ids are uint32 (protocol doc §5.2); random when not given."""
        if client_order_id is None:
            return random.randint(1, 2**32 - 1)
        if not client_order_id.isdigit() or not 0 <= int(client_order_id) < 2**32:
            raise InvalidOrder(f"client_order_id must be an integer in 0..2^32-1, got {client_order_id!r}", exchange=EXCHANGE)
        return int(client_order_id)

    async def _submit(self, symbol: str, order_type: str, side: Side, qty: Decimal, price: Decimal | None,
                      params: dict[str, Any]) -> OrderResult:
        try:
            raw = await self.private.create_order(symbol, order_type, side, qty, price, params)
        except ExchangeError as exc:
            raise refine_error(exc, not_found=False) from None
        result = self.private.to_result(raw, side, qty, price)
        log.info("%s %s: %s %s %s @ %s -> %s (id %s)", EXCHANGE, symbol, order_type, side.value, qty, price,
                 result.status.value, result.order_id)
        return result

    async def place_limit_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        *,
        reduce_only: bool = False,
        post_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderResult:
        """Limit order (GTC, or post-only): price rounded passively to the tick, size down to the
        lot, min size checked before sending (:class:`InvalidOrder`); ``client_order_id`` must be
        a uint32 in decimal. A post-only order that would cross comes back CANCELED (Expired)."""
        _, qty, px = await self.prepare_order(symbol, side, quantity, price, reduce_only=reduce_only)
        if px is None:
            raise InvalidOrder(f"{symbol}: a limit order needs a price", exchange=EXCHANGE)
        params: dict[str, Any] = {"clientOrderId": self._client_id(client_order_id)}
        if reduce_only:
            params["reduceOnly"] = True
        if post_only:
            params["postOnly"] = True
        return await self._submit(symbol, "limit", side, qty, px, params)

    async def place_market_order(self, symbol: str, side: Side, quantity: Decimal, *, reduce_only: bool = False) -> OrderResult:
        """Market order (``orderType: Market``, base quantity); the exchange fills what the book
        holds and expires the rest."""
        _, qty, _ = await self.prepare_order(symbol, side, quantity, None, reduce_only=reduce_only)
        params: dict[str, Any] = {"clientOrderId": self._client_id(None)}
        if reduce_only:
            params["reduceOnly"] = True
        return await self._submit(symbol, "market", side, qty, None, params)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderResult:
        """``DELETE /api/v1/order``; unknown or no longer open orders raise :class:`OrderNotFound`."""
        await self.contract_attributes(symbol)
        try:
            raw = await self.private.cancel_order(symbol, order_id)
        except ExchangeError as exc:
            raise refine_error(exc) from None
        info = self.private.to_info(symbol, raw)
        return OrderResult(True, order_id, info.side, info.size, info.price, info.status, info.filled_size,
                           client_order_id=info.client_order_id)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """Order state (history first, then open orders, as ccxt does); None when unknown."""
        await self.contract_attributes(symbol)
        try:
            raw = await self.private.fetch_order(symbol, order_id)
        except ExchangeError as exc:
            err = refine_error(exc)
            if isinstance(err, OrderNotFound):
                return None
            raise err from None
        return self.private.to_info(symbol, raw)

    async def fetch_open_orders(self, symbol: str) -> list[OrderInfo]:
        """Open orders of this account on ``symbol`` (ccxt ``fetch_open_orders``)."""
        await self.contract_attributes(symbol)
        return await self.private.open_orders(symbol)

    # -- conditional orders -------------------------------------------------------------------------
    async def place_stop_market(self, symbol: str, side: Side, quantity: Decimal, trigger_price: Decimal, *,
                                reduce_only: bool = True, trigger_by: str = "mark",
                                client_order_id: str | None = None) -> OrderResult:
        """``orderType: Market`` with ``triggerPrice``, ``triggerQuantity`` and ``triggerBy``
        ``MarkPrice``/``LastPrice`` (protocol §5; ccxt ``create_order(params={"triggerPrice"})``
        sends the size as ``triggerQuantity``); reads back ``TriggerPending`` (OPEN here).
        ``client_order_id`` a uint32 in decimal. See :meth:`ExchangeClient.place_stop_market`."""
        _, qty, p = await self.prepare_stop(symbol, side, quantity, trigger_price, reduce_only=reduce_only,
                                            trigger_by=trigger_by)
        params: dict[str, Any] = {"clientOrderId": self._client_id(client_order_id), "triggerPrice": str(p),
                                  "triggerBy": _TRIGGER_BY[trigger_by]}
        if reduce_only:
            params["reduceOnly"] = True
        res = await self._submit(symbol, "market", side, qty, None, params)
        res.price = p
        return res

    async def fetch_open_conditional_orders(self, symbol: str) -> list[OrderInfo]:
        """The ``TriggerPending`` orders among ``GET /api/v1/orders?symbol=``, ``trigger_by`` from
        their ``triggerBy``."""
        await self.contract_attributes(symbol)
        out = []
        for raw in await self.private.fetch_open_orders(symbol):
            info = self.private.to_info(symbol, raw)
            if info.trigger_price is None:
                continue
            by = (raw.get("info") or {}).get("triggerBy")
            info.trigger_by = next((k for k, v in _TRIGGER_BY.items() if v == by), None)
            out.append(info)
        return out

    async def cancel_conditional_order(self, symbol: str, order_id: str) -> OrderResult:
        """``DELETE /api/v1/order`` as for any order (:class:`OrderNotFound` when not pending)."""
        return await self.cancel_order(symbol, order_id)

    # -- account ------------------------------------------------------------------------------------
    async def fetch_position(self, symbol: str) -> ExchangePositionSnapshot | None:
        """Signed size (base units, + long), entry/mark (USD), unrealized PnL (USD), leverage
        (1 / imf), liquidation price, cumulative funding; None when flat (see
        :func:`position_from_rows`)."""
        c = await self.contract_attributes(symbol)
        rows = await self._call("privateGetApiV1Position", not_found=False)
        return position_from_rows(rows, c.contract_id, symbol)

    async def fetch_available_balance(self) -> Decimal:
        """``netEquityAvailable`` (USD) of ``/api/v1/capital/collateral``: what new positions can use."""
        raw = await self._call("privateGetApiV1CapitalCollateral", not_found=False)
        try:
            return msgspec.convert(raw, schemas.Collateral, strict=False).netEquityAvailable
        except msgspec.ValidationError as exc:
            raise ExchangeError(f"malformed collateral response: {exc}", exchange=EXCHANGE) from None

    async def fetch_leverage_info(self, symbol: str) -> LeverageInfo:
        """Max leverage from the catalog; current = min(account ``leverageLimit``, market max)
        (Backpack caps leverage account-wide, §5.8)."""
        c = await self.contract_attributes(symbol)
        acct = msgspec.convert(await self._call("privateGetApiV1Account", not_found=False), schemas.Account, strict=False)
        current = min(acct.leverageLimit, c.max_leverage) if acct.leverageLimit else None
        return LeverageInfo(symbol, c.max_leverage, current, (1 / current) if current else None)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Backpack's leverage is **account-wide**: ``PATCH /api/v1/account {"leverageLimit"}``
        changes it for every market. Raises :class:`InvalidOrder` outside 1..``symbol``'s max."""
        c = await self.contract_attributes(symbol)
        lev = int(leverage)
        if lev < 1 or lev > c.max_leverage:
            raise InvalidOrder(f"{symbol}: leverage {leverage} outside 1..{c.max_leverage}", exchange=EXCHANGE)
        await self._call("privatePatchApiV1Account", {"leverageLimit": str(lev)}, not_found=False)
        log.info("%s %s: account-wide leverage limit set to %dx", EXCHANGE, symbol, lev)
        return True

    async def fetch_funding_history_pages(self, symbol: str, since: datetime,
                                          until: datetime | None = None) -> AsyncIterator[list[SettledFunding]]:
        """Settled funding rates from ``GET /api/v1/fundingRates`` (see
        :func:`~perpdex.exchanges.backpack.funding.funding_history_pages`; base class for units and errors)."""
        dex = (await self.contract_attributes(symbol)).contract_id
        async for page in funding_history_pages(self.rest, symbol, dex, since, until):
            yield page

    async def fetch_funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Funding settled on our ``symbol`` position since ``since`` (UTC), oldest first, from
        ``GET /wapi/v1/history/funding`` (latest 1000 rows): ``quantity`` USD, + received /
        - paid; rate per interval."""
        c = await self.contract_attributes(symbol)
        rows = await self._call("privateGetWapiV1HistoryFunding", {"symbol": c.contract_id, "limit": "1000"}, not_found=False)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return funding_payments(rows, c.contract_id, symbol, since)
