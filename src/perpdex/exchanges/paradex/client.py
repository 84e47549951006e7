"""The Paradex exchange client: native market data, private operations through ccxt with the fast
Starknet signer installed.

* Catalog: ``GET /v1/markets`` (``asset_kind == "PERP"`` only): tick = ``price_tick_size`` (USD),
  lot = min size = ``order_size_increment`` (base units), ``min_notional`` (USD), max leverage =
  1 / ``delta1_cross_margin_params.imf_base``, maintenance margin fraction = ``imf_base`` x
  ``mmf_factor`` (MMR = IMR x mmf_factor, §2); active while open (``open_at`` <= now) and not
  expiring. Fees are not in the market list: ``settings.taker_fee``/``maker_fee`` or the API
  defaults :data:`DEFAULT_TAKER_FEE`/:data:`DEFAULT_MAKER_FEE`.
* REST depth: ``GET /v1/orderbook/{market}?depth=N``. Live books:
  :class:`~perpdex.exchanges.paradex.feed.ParadexMarketFeed` (delta feed with ``seq_no``, SBE
  binary by default as production requires, ``options["sbe_version"]`` = None for JSON).
* Private operations: ``ccxt.async_support.paradex`` wrapped by
  :class:`~perpdex.exchanges.ccxt_private.CcxtPrivate`, with
  :func:`~perpdex.exchanges.paradex.signer.install` on the instance (~2.4 ms per signed order
  instead of ~35–70 ms). ccxt obtains and refreshes the JWT (``POST /v1/auth``) itself.
* Paradex acknowledges an order as ``NEW`` and matches it afterwards; the client reads the order
  back once to report fills. Margin/reduce-only rejections arrive as a ``CLOSED`` order with a
  ``cancel_reason`` and are raised as typed errors.
* Leverage is per market (``POST /v1/account/margin/{market}``, cross margin).
* Funding is continuous; realisations are listed by ``GET /v1/funding/payments`` (``payment``
  USDC, + received).

Source of every fact: docs/exchanges/paradex.md (§2, §3.1, §5, §7, §8).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import msgspec

from ...errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    InsufficientMargin,
    InvalidOrder,
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
    OrderStatus,
    SettledFunding,
    Side,
    UserFill,
)
from ...secrets import mask_in_logs
from ..base import Depth, ExchangeClient, ExchangeSettings
from ..ccxt_private import CcxtPrivate, merge_config
from ..credentials import hex_bytes, hex_number
from . import schemas, signer
from .feed import ParadexMarketFeed
from .funding import funding_history_pages, perp_markets
from .rest import ParadexRest
from .signer import self_test as _signer_self_test
from .symbols import ParadexSymbols
from .userstream import ParadexUserStream, fill_from_push

log = logging.getLogger(__name__)

EXCHANGE = "paradex"
DEFAULT_WS_URL = "wss://ws.api.prod.paradex.trade/v1"
DEFAULT_SBE_VERSION = 3
DEFAULT_TAKER_FEE = Decimal("0.0002")
DEFAULT_MAKER_FEE = Decimal("0.00003")

_CODE = re.compile(r'"error"\s*:\s*"([A-Z_]+)"')
_AUTH_CODES = {"UNAUTHORIZED_ERROR", "STARKNET_SIGNATURE_VERIFICATION_FAILED", "INVALID_ORDER_SIGNATURE",
               "INVALID_STARKNET_SIGNATURE", "NOT_ONBOARDED", "ACCOUNT_NOT_FOUND", "INVALID_SIGNATURE_EXPIRATION"}
_INVALID_CODES = {"INVALID_ORDER_SIZE", "INVALID_PRICE_PRECISION", "INVALID_REQUEST_PARAMETER", "BINDING_ERROR",
                  "VALIDATION_ERROR", "DUPLICATED_CLIENT_ID", "MARKET_NOT_OPEN", "ORDER_EXCEEDS_POSITION_LIMIT",
                  "REDUCE_ONLY_WILL_INCREASE", "POST_ONLY_WOULD_CROSS"}
_MARGIN_REASONS = {"NOT_ENOUGH_MARGIN"}


def _error_code(exc: Exception) -> str | None:
    m = _CODE.search(str(exc))
    return m.group(1) if m else None


def refine_error(exc: ExchangeError, *, cancel: bool = False) -> ExchangeError:
    """Narrow a ccxt-mapped error by Paradex's ``error`` code (ccxt maps e.g.
    ``VALIDATION_ERROR`` to an auth error and leaves 429 bodies as a generic error)."""
    code = _error_code(exc)
    msg = str(exc).removeprefix(f"[{EXCHANGE}] ")
    if code == "RATE_LIMIT_EXCEEDED" or "HTTP 429" in msg or "Too Many Requests" in msg:
        return RateLimited(msg, exchange=EXCHANGE, code=code or 429)
    if code in ("ORDER_ID_NOT_FOUND", "CLIENT_ORDER_ID_NOT_FOUND") or (cancel and code == "ORDER_IS_CLOSED"):
        return OrderNotFound(msg, exchange=EXCHANGE, code=code)
    if code in _MARGIN_REASONS:
        return InsufficientMargin(msg, exchange=EXCHANGE, code=code)
    if code in _AUTH_CODES or "missing or malformed jwt" in msg:
        return AuthenticationError(msg, exchange=EXCHANGE, code=code)
    if code in _INVALID_CODES or code == "MARKET_NOT_FOUND":
        return InvalidOrder(msg, exchange=EXCHANGE, code=code)
    if code is not None:
        exc.code = code
    return exc


def contract_from_market(symbol: str, m: schemas.Market, taker: Decimal | None = None, maker: Decimal | None = None,
                         multiplier: int = 1, now_ms: int | None = None) -> ContractAttributes:
    """:class:`ContractAttributes` of one ``/v1/markets`` perp (see module docstring)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    params = m.delta1_cross_margin_params
    imf = params.imf_base if params is not None else Decimal(0)
    mmf = imf * params.mmf_factor if params is not None and params.mmf_factor > 0 else None
    max_lev = (Decimal(1) / imf) if imf > 0 else Decimal(1)
    if max_lev == max_lev.to_integral_value():
        max_lev = max_lev.quantize(Decimal(1))
    return ContractAttributes(
        exchange=EXCHANGE, symbol=symbol, contract_id=m.symbol, tick_size=m.price_tick_size,
        lot_size=m.order_size_increment, min_size=m.order_size_increment, min_notional=m.min_notional,
        max_leverage=max_lev, taker_fee=taker if taker is not None else DEFAULT_TAKER_FEE,
        maker_fee=maker if maker is not None else DEFAULT_MAKER_FEE,
        active=m.open_at <= now_ms and (m.expiry_at == 0 or m.expiry_at > now_ms) and m.price_tick_size > 0
        and m.order_size_increment > 0,
        multiplier=Decimal(multiplier), maintenance_margin_fraction=mmf or None,
    )


def depth_from_rest(book: schemas.RestOrderBook, levels: int) -> Depth:
    """``/v1/orderbook`` levels -> depth: bids descending, asks ascending, non-positive price or
    size dropped, ``levels`` per side."""

    def side(rows: list[tuple[Decimal, Decimal]], descending: bool) -> list[dict[str, Decimal]]:
        good = sorted(((p, s) for p, s in rows if p > 0 and s > 0), key=lambda r: r[0], reverse=descending)
        return [{"price": p, "size": s} for p, s in good[:levels]]

    return {"bids": side(book.bids, True), "asks": side(book.asks, False)}


def position_from_row(row: dict[str, Any], symbol: str, mark: Decimal | None) -> ExchangePositionSnapshot | None:
    """A ``/v1/positions`` row -> snapshot (``size`` signed base units; ``cost_usd`` USD; an empty
    ``liquidation_price`` -> None); None for a closed/flat row."""
    size = schemas.dec(row.get("size"), Decimal(0)) or Decimal(0)
    if row.get("status") == "CLOSED" or size == 0:
        return None
    if row.get("side") == "SHORT" and size > 0:
        size = -size
    lev = schemas.dec(row.get("leverage"))
    cost = abs(schemas.dec(row.get("cost_usd"), Decimal(0)) or Decimal(0))
    return ExchangePositionSnapshot(
        exchange=EXCHANGE, symbol=symbol, quantity=size,
        entry_price=schemas.dec(row.get("average_entry_price"), Decimal(0)) or Decimal(0), mark_price=mark,
        unrealized_pnl=schemas.dec(row.get("unrealized_pnl"), Decimal(0)) or Decimal(0), leverage=lev,
        liquidation_price=schemas.dec(row.get("liquidation_price")) or None,
        margin_used=(cost / lev) if lev else None,
        cumulative_funding=schemas.dec(row.get("unrealized_funding_pnl")),
    )


def funding_payments(resp: Any, market: str, symbol: str, since: datetime) -> list[FundingPayment]:
    """``/v1/funding/payments`` rows of ``market`` at or after ``since`` (``created_at`` ms;
    ``payment`` USDC, + received) as :class:`FundingPayment`, oldest first; malformed rows are
    skipped with a warning."""
    since_ms = int(since.timestamp() * 1000)
    out: list[FundingPayment] = []
    for row in (resp or {}).get("results") or []:
        try:
            if row.get("market") != market:
                continue
            ts_ms = int(row["created_at"])
            amount = Decimal(str(row["payment"]))
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            log.warning("%s %s: skipped malformed funding payment row (%s)", EXCHANGE, symbol, exc)
            continue
        if ts_ms >= since_ms:
            out.append(FundingPayment(EXCHANGE, symbol, amount, None, datetime.fromtimestamp(ts_ms / 1000, tz=UTC)))
    out.sort(key=lambda p: p.ts)
    return out


class ParadexClient(ExchangeClient):
    """Paradex perpetuals. ``settings.credentials``: ``l2_private_key`` (Stark private key, hex),
    ``l2_address`` (Paradex account address), optional ``l2_public_key`` (derived otherwise); or
    ``l1_address`` + ``l1_private_key`` (Ethereum) for ccxt to derive the Stark account.
    ``settings.options``: ``ccxt`` (extra ccxt constructor config, deep-copied and merged),
    ``sbe_version`` (3 default; None for JSON frames), ``feed_mode`` ("deltas" | "snapshot")."""

    name = EXCHANGE
    #: credential fields (``settings.credentials``; ``perpdex accounts add`` asks for these)
    signer_self_test = staticmethod(_signer_self_test)
    CREDENTIAL_FIELDS: tuple[str, ...] = ("l2_private_key", "l2_address")
    CREDENTIAL_OPTIONAL: tuple[str, ...] = ("l2_public_key", "l1_address", "l1_private_key")
    CREDENTIAL_FORMATS = {"l2_private_key": hex_number(32), "l2_address": hex_number(32),
                          "l2_public_key": hex_number(32), "l1_address": hex_bytes(20), "l1_private_key": hex_bytes(32)}
    #: dotted paths of the ccxt constructor config that carry credentials: dropped from the
    #: emulator's ccxt config when an account brings its own
    CCXT_CREDENTIAL_PATHS: tuple[str, ...] = ("privateKey", "walletAddress", "options.paradexAccount")

    def __init__(self, settings: ExchangeSettings) -> None:
        self.rest = ParadexRest(settings.rest_url)
        self.rest_url = self.rest.base_url
        self.ws_url = settings.ws_url or DEFAULT_WS_URL
        self.symbols = ParadexSymbols()
        self.markets: dict[str, schemas.Market] = {}
        self._private: CcxtPrivate | None = None
        super().__init__(settings)

    # -- lifecycle --------------------------------------------------------------------------------
    def _make_user_stream(self) -> ParadexUserStream:
        """Orders, fills, positions on their own socket (see :mod:`.userstream`)."""
        return ParadexUserStream(self.ws_url, self.symbol_of, auth_token=self.auth_token)

    async def auth_token(self) -> str:
        """A JWT for this account (``POST /v1/auth``, Starknet-signed by ccxt; lives minutes),
        for the private WebSocket ``auth``. Raises :class:`AuthenticationError` /
        :class:`ExchangeError` on failure."""
        priv = self.private
        await priv.ensure_markets()
        with priv.translate_errors():
            token = str(await priv.client.authenticate_rest())
        mask_in_logs(token)  # it opens the account while it lives: masked in every log line
        return token

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our last 100 fills of ``symbol`` (``GET /v1/fills?market=``, via ccxt
        ``fetch_my_trades``): size base units, price and fee USD, ``ts`` epoch s. Raises
        :class:`ExchangeError` on failure."""
        priv = self.private
        await priv.ensure_markets()
        with priv.translate_errors():
            rows = await priv.client.fetch_my_trades(self.symbols.ccxt_symbol(symbol), None, 100)
        return [fill_from_push(msgspec.convert(r["info"], schemas.FillPush, strict=False), symbol) for r in rows]

    def _make_feed(self) -> ParadexMarketFeed:
        opts = self.settings.options
        return ParadexMarketFeed(self.ws_url, catalog=self.symbols, mode=str(opts.get("feed_mode", "deltas")),
                                 sbe_version=opts.get("sbe_version", DEFAULT_SBE_VERSION),
                                 funding_stream=bool(opts.get("funding_stream", False)),
                                 market_of=lambda sym: self.markets.get(sym))


    def _ccxt_config(self) -> dict[str, Any]:
        creds = self.settings.credentials or {}
        extra = copy.deepcopy(self.settings.options.get("ccxt") or {})
        v2 = self.rest_url[:-3] + "/v2" if self.rest_url.endswith("/v1") else self.rest_url
        config = merge_config({"urls": {"api": {"v1": self.rest_url, "v2": v2, "ws": self.ws_url}}, "options": {}}, extra)
        if creds.get("l2_private_key"):
            try:
                key = int(str(creds["l2_private_key"]), 16)
                address = str(creds["l2_address"])
                int(address, 16)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError("exchanges.paradex.credentials",
                                  f"needs l2_private_key and l2_address as hex ({type(exc).__name__})") from None
            pub = creds.get("l2_public_key") or hex(signer.public_key(key))
            config.setdefault("options", {})["paradexAccount"] = {
                "privateKey": str(creds["l2_private_key"]), "publicKey": pub, "address": address}
        if creds.get("l1_private_key"):
            config["privateKey"] = str(creds["l1_private_key"])
            config["walletAddress"] = str(creds.get("l1_address", ""))
        return config

    def _secrets(self, config: dict[str, Any]) -> list[str]:
        """The private keys in the credentials and in the ccxt config (for redaction)."""
        creds = self.settings.credentials or {}
        acct = (config.get("options") or {}).get("paradexAccount") or {}
        vals = [creds.get("l2_private_key"), creds.get("l1_private_key"), config.get("privateKey"), acct.get("privateKey")]
        out: list[str] = []
        for v in vals:
            if v:
                s = str(v)
                out.append(s)
                if s.lower().startswith("0x"):
                    out.append(s[2:])
        return sorted(set(out), key=len, reverse=True)

    @property
    def private(self) -> CcxtPrivate:
        """The ccxt wrapper with the fast signer installed (created on first use)."""
        if self._private is None:
            config = self._ccxt_config()
            client = signer.install(ccxt_async.paradex(config))
            self._private = CcxtPrivate(EXCHANGE, client, self.symbols.ccxt_symbol, settle="USDC",
                                        secrets=self._secrets(config))
        return self._private

    async def connect(self) -> None:
        """Load the catalog; with credentials, also ccxt's markets and the signer tables."""
        await self.load_contracts()
        if self.settings.credentials or self.settings.options.get("ccxt"):
            await asyncio.get_running_loop().run_in_executor(None, signer.warm_up)
            await self.private.load_markets()

    def _use_rest_session(self, session: Any) -> None:
        self.rest.use_session(session)

    async def close(self) -> None:
        await super().close()
        if self._private is not None:
            await self._private.close()
            self._private = None
        await self.rest.close()

    # -- catalog ----------------------------------------------------------------------------------
    async def load_contracts(self) -> dict[str, ContractAttributes]:
        """Perps of ``/v1/markets`` as :class:`ContractAttributes` (options excluded)."""
        self.markets = perp_markets(await self.rest.get("/markets"), self.symbols)
        s = self.settings
        self._contracts = {sym: contract_from_market(sym, m, s.taker_fee, s.maker_fee, self.symbols.multiplier(sym))
                           for sym, m in self.markets.items()}
        return self._contracts

    # -- market data ------------------------------------------------------------------------------
    async def fetch_order_book_rest(self, symbol: str, levels: int = 10) -> Depth:
        """Top ``levels`` of ``/v1/orderbook/{market}``: ``{'bids': [{'price', 'size'}], 'asks':
        [...]}`` Decimal (USD, base units), bids descending, asks ascending; empty side = []."""
        c = await self.contract_attributes(symbol)
        body = await self.rest.get(f"/orderbook/{c.contract_id}", {"depth": max(levels, 1)}, into=schemas.orderbook_decoder)
        return depth_from_rest(body, levels)

    async def fetch_mark_price(self, symbol: str) -> Decimal | None:
        """Mark price (USD per exchange unit) from ``/v1/markets/summary``; None when absent."""
        c = await self.contract_attributes(symbol)
        body = await self.rest.get("/markets/summary", {"market": c.contract_id}, into=schemas.summary_decoder)
        rows = body.results
        return schemas.dec(rows[0].mark_price) if rows else None

    # -- orders -----------------------------------------------------------------------------------
    async def _submit(self, symbol: str, order_type: str, side: Side, qty: Decimal, price: Decimal | None,
                      params: dict[str, Any]) -> OrderResult:
        try:
            raw = await self.private.create_order(symbol, order_type, side, qty, price, params)
        except ExchangeError as exc:
            raise refine_error(exc) from None
        info = raw.get("info") or {}
        reason = info.get("cancel_reason") if isinstance(info, dict) else None
        if reason:
            cls = InsufficientMargin if reason in _MARGIN_REASONS else InvalidOrder
            raise cls(f"{symbol}: order rejected ({reason})", exchange=EXCHANGE, code=reason)
        oid = str(raw.get("id")) if raw.get("id") is not None else None
        if oid is not None:
            try:
                raw = await self.private.fetch_order(symbol, oid)
            except ExchangeError as exc:
                log.warning("%s %s: order %s accepted, read-back failed: %s", EXCHANGE, symbol, oid, exc)
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
        """Limit order (GTC, or POST_ONLY): price rounded passively to the tick, size down to the
        lot; min size and min notional (USD) checked before sending (:class:`InvalidOrder`). A
        post-only order that would cross comes back CANCELED (``POST_ONLY_WOULD_CROSS``)."""
        _, qty, px = await self.prepare_order(symbol, side, quantity, price, reduce_only=reduce_only)
        if px is None:
            raise InvalidOrder(f"{symbol}: a limit order needs a price", exchange=EXCHANGE)
        params: dict[str, Any] = {}
        if reduce_only:
            params["reduceOnly"] = True
        if post_only:
            params["postOnly"] = True
        if client_order_id:
            params["clientOrderId"] = client_order_id
        return await self._submit(symbol, "limit", side, qty, px, params)

    async def place_market_order(self, symbol: str, side: Side, quantity: Decimal, *, reduce_only: bool = False) -> OrderResult:
        """Market order (``type: MARKET``, signed with price 0); the min notional is checked at
        the touch before sending."""
        _, qty, _ = await self.prepare_order(symbol, side, quantity, None, reduce_only=reduce_only)
        return await self._submit(symbol, "market", side, qty, None, {"reduceOnly": True} if reduce_only else {})

    async def cancel_order(self, symbol: str, order_id: str) -> OrderResult:
        """``DELETE /v1/orders/{id}``; unknown or already closed orders raise
        :class:`OrderNotFound`."""
        await self.contract_attributes(symbol)
        try:
            await self.private.cancel_order(symbol, order_id)
        except ExchangeError as exc:
            raise refine_error(exc, cancel=True) from None
        return OrderResult(True, order_id, status=OrderStatus.CANCELED)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """``GET /v1/orders/{id}``; None when Paradex does not know the id."""
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

    # -- conditional orders -----------------------------------------------------------------------
    #: Paradex triggers stops on the mark price only
    stop_trigger_types = ("mark",)

    async def place_stop_market(self, symbol: str, side: Side, quantity: Decimal, trigger_price: Decimal, *,
                                reduce_only: bool = True, trigger_by: str = "mark",
                                client_order_id: str | None = None) -> OrderResult:
        """``type: STOP_MARKET`` with ``trigger_price``, ``size`` and ``flags: ["REDUCE_ONLY"]``
        (protocol §5; ccxt ``create_order(type="market", params={"triggerPrice": ...})``), triggered
        by the mark price. The order reads back ``UNTRIGGERED`` (status OPEN here). A trigger the
        exchange refuses raises :class:`InvalidOrder` with its message. See
        :meth:`ExchangeClient.place_stop_market` for units."""
        _, qty, p = await self.prepare_stop(symbol, side, quantity, trigger_price, reduce_only=reduce_only,
                                            trigger_by=trigger_by)
        params: dict[str, Any] = {"triggerPrice": str(p)}
        if reduce_only:
            params["reduceOnly"] = True
        if client_order_id:
            params["clientOrderId"] = client_order_id
        res = await self._submit(symbol, "market", side, qty, None, params)
        res.price = p
        return res

    async def fetch_open_conditional_orders(self, symbol: str) -> list[OrderInfo]:
        """The ``UNTRIGGERED`` orders among ``GET /v1/orders?market=`` (those with a ``trigger_price``);
        ``trigger_by`` is always ``"mark"``."""
        out = [o for o in await self.fetch_open_orders(symbol) if o.trigger_price is not None]
        for o in out:
            o.trigger_by = "mark"
        return out

    async def cancel_conditional_order(self, symbol: str, order_id: str) -> OrderResult:
        """``DELETE /v1/orders/{id}`` as for any order (:class:`OrderNotFound` when closed/unknown)."""
        return await self.cancel_order(symbol, order_id)

    # -- account ----------------------------------------------------------------------------------
    async def _private_call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        p = self.private
        await p.ensure_markets()
        try:
            with p.translate_errors():
                await p.client.authenticate_rest()
                return await getattr(p.client, method)(params or {})
        except ExchangeError as exc:
            raise refine_error(exc) from None

    async def fetch_position(self, symbol: str) -> ExchangePositionSnapshot | None:
        """Signed size (base units, + long), entry price, mark price (markets summary; USD),
        unrealized PnL (USD, incl. unrealized funding), leverage, liquidation price (None when
        Paradex gives ``""``), margin used = \\|cost_usd\\| / leverage; None when flat."""
        c = await self.contract_attributes(symbol)
        resp = await self._private_call("privateGetPositions")
        for row in (resp or {}).get("results") or []:
            if isinstance(row, dict) and row.get("market") == c.contract_id:
                snap = position_from_row(row, symbol, None)
                if snap is not None:
                    snap.mark_price = await self.fetch_mark_price(symbol)
                    return snap
        return None

    async def fetch_available_balance(self) -> Decimal:
        """``free_collateral`` of ``GET /v1/account`` (USD): what new positions can use."""
        resp = await self._private_call("privateGetAccount")
        val = schemas.dec((resp or {}).get("free_collateral"))
        if val is None:
            raise ExchangeError("account summary without free_collateral", exchange=EXCHANGE)
        return val

    async def fetch_leverage_info(self, symbol: str) -> LeverageInfo:
        """Max leverage = 1 / imf_base (catalog); current = the market's ``leverage`` from
        ``GET /v1/account/margin?market=``."""
        c = await self.contract_attributes(symbol)
        resp = await self._private_call("privateGetAccountMargin", {"market": c.contract_id})
        current: Decimal | None = None
        for cfg in (resp or {}).get("configs") or []:
            if isinstance(cfg, dict) and cfg.get("market") == c.contract_id:
                current = schemas.dec(cfg.get("leverage"))
        return LeverageInfo(symbol, c.max_leverage, current, (1 / current) if current else None)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """``POST /v1/account/margin/{market}`` with ``{"leverage": N, "margin_type": "CROSS"}``.
        Raises :class:`InvalidOrder` outside 1..max leverage."""
        c = await self.contract_attributes(symbol)
        lev = int(leverage)
        if lev < 1 or lev > c.max_leverage:
            raise InvalidOrder(f"{symbol}: leverage {leverage} outside 1..{c.max_leverage}", exchange=EXCHANGE)
        try:
            await self.private.set_leverage(symbol, Decimal(lev), {"marginMode": "cross"})
        except ExchangeError as exc:
            raise refine_error(exc) from None
        log.info("%s %s: leverage set to %dx (cross)", EXCHANGE, symbol, lev)
        return True

    async def fetch_funding_history_pages(self, symbol: str, since: datetime,
                                          until: datetime | None = None) -> AsyncIterator[list[SettledFunding]]:
        """Hourly funding values reduced from ``GET /v1/funding/data`` observations (see
        :func:`~perpdex.exchanges.paradex.funding.funding_history_pages`; base class for units and errors)."""
        c = await self.contract_attributes(symbol)
        async for page in funding_history_pages(self.rest, symbol, c.contract_id,
                                                self.markets.get(symbol), since, until):
            yield page

    async def fetch_funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Funding realised on our ``symbol`` position since ``since`` (UTC), oldest first, from
        ``GET /v1/funding/payments`` (``payment`` USDC, + received / - paid; ``rate`` None:
        Paradex accrues continuously and reports the funding index, not a rate)."""
        c = await self.contract_attributes(symbol)
        resp = await self._private_call("privateGetFundingPayments", {
            "market": c.contract_id, "start_at": int(since.timestamp() * 1000), "page_size": 1000})
        return funding_payments(resp, c.contract_id, symbol, since)
