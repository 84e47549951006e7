"""Aster exchange client: native market catalog and depth, WebSocket books, and private
operations through ccxt ``async_support.aster`` (V3 EIP-712 signing is ccxt's).

Protocol source: docs/exchanges/aster.md (§2 catalog, §3.2 depth, §5 private REST, §7 ccxt).

* Catalog: ``GET /fapi/v3/exchangeInfo``: tick = ``PRICE_FILTER.tickSize``, lot =
  ``LOT_SIZE.stepSize``, min size = ``LOT_SIZE.minQty``, min notional = ``MIN_NOTIONAL.notional``
  (documented) or ``.minNotional`` (observed live), active = ``status == "TRADING"``; spot rows
  (no ``contractType``) are excluded. Max leverage is not in the catalog: with credentials it
  comes from the signed ``GET /fapi/v3/leverageBracket`` (``brackets[0].initialLeverage``, and
  the maintenance margin fraction ``brackets[0].maintMarginRatio``, §5.9), without them it is
  :data:`DEFAULT_MAX_LEVERAGE`, a deliberately conservative value.
* Bundled markets (``1000PEPEUSDT``) are listed under the coin (``"PEPE"``); their prices and
  sizes stay in bundle units as the exchange quotes them.
* Leverage is per symbol (``POST /fapi/v3/leverage``), stored per account.
* Fees: ``settings.taker_fee``/``maker_fee`` or Aster's base tier (0.035 % taker, 0.01 % maker).

Settings: ``rest_url`` (default ``https://fapi.asterdex.com``) and ``ws_url`` (default
``wss://fstream.asterdex.com``) override the live endpoints; ``credentials["private_key"]``
(Ethereum key of the main wallet) enables private operations; ``options["ccxt"]`` is merged into
ccxt's constructor config (the emulator's ``endpoints()['ccxt']`` fits there, including its sim
key when no credentials are given); ``options["depth_mode"]`` is ``"partial"`` (default) or
``"diff"``. Credentials are never logged and are redacted from error messages.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from ...book import depth_from_levels
from ...errors import AuthenticationError, MarketNotFound, OrderNotFound, StaleMarketData
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
from ...secrets import secret_values
from ..base import Depth, ExchangeClient, ExchangeSettings
from ..ccxt_private import CcxtPrivate
from ..credentials import hex_bytes
from ..feed import MarketFeed
from .auth import install_fast_signing
from .auth import self_test as _signer_self_test
from .feed import AsterMarketFeed
from .funding import funding_history_pages
from .rest import AsterRest
from .schemas import BookTickerRest, Bracket, ExchangeInfo, LeverageBracket, SymbolInfo, UserTrade, decode
from .schemas import Depth as DepthBody
from .symbols import DEFAULT_QUOTE, AsterSymbols, split_multiplier
from .userstream import AsterUserStream, fill_from_user_trade

log = logging.getLogger(__name__)

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
DEFAULT_MAX_LEVERAGE = Decimal(10)
DEFAULT_TAKER_FEE = Decimal("0.00035")
DEFAULT_MAKER_FEE = Decimal("0.0001")
#: ``workingType`` of a conditional order -> the price it triggers on
_TRIGGER_BY = {"MARK_PRICE": "mark", "CONTRACT_PRICE": "last"}


def depth_limit(levels: int) -> int:
    """Smallest allowed ``limit`` of ``/fapi/v3/depth`` that covers ``levels`` (7 -> 10)."""
    for lim in DEPTH_LIMITS:
        if lim >= levels:
            return lim
    return DEPTH_LIMITS[-1]


def parse_contract(row: SymbolInfo, *, taker_fee: Decimal, maker_fee: Decimal,
                   max_leverage: Decimal = DEFAULT_MAX_LEVERAGE,
                   maintenance_margin_fraction: Decimal | None = None) -> ContractAttributes | None:
    """One ``exchangeInfo`` row -> attributes keyed by the canonical coin; None for spot rows
    (no ``contractType``) or rows without ``baseAsset``. Raises ``ValueError`` naming the field
    when the tick or lot cannot be determined."""
    if row.contractType is None or not row.baseAsset:
        return None
    price_f, lot_f, notional_f = row.filter("PRICE_FILTER"), row.filter("LOT_SIZE"), row.filter("MIN_NOTIONAL")
    tick = price_f.tickSize if price_f is not None else None
    if not tick and row.pricePrecision is not None:
        tick = Decimal(1).scaleb(-row.pricePrecision)
    lot = lot_f.stepSize if lot_f is not None else None
    if not lot and row.quantityPrecision is not None:
        lot = Decimal(1).scaleb(-row.quantityPrecision)
    if not tick or not lot:
        raise ValueError(f"{row.symbol}: no PRICE_FILTER.tickSize / LOT_SIZE.stepSize")
    min_notional = Decimal(0)
    if notional_f is not None:
        min_notional = notional_f.notional if notional_f.notional is not None else (notional_f.minNotional or Decimal(0))
    coin, mult = split_multiplier(row.baseAsset)
    return ContractAttributes(
        exchange="aster", symbol=coin, contract_id=row.symbol, tick_size=tick.normalize(), lot_size=lot.normalize(),
        min_size=(lot_f.minQty if lot_f is not None and lot_f.minQty else lot).normalize(),
        min_notional=min_notional, max_leverage=max_leverage, taker_fee=taker_fee, maker_fee=maker_fee,
        active=row.status == "TRADING", multiplier=Decimal(mult),
        maintenance_margin_fraction=maintenance_margin_fraction,
    )


def parse_book_ticker(row: BookTickerRest) -> tuple[Decimal | None, Decimal | None]:
    """(best bid, best ask) of a REST bookTicker row; an empty side (price 0) is None."""
    bid = Decimal(repr(row.bidPrice)) if row.bidPrice > 0 and row.bidQty > 0 else None
    ask = Decimal(repr(row.askPrice)) if row.askPrice > 0 and row.askQty > 0 else None
    return bid, ask


class AsterClient(ExchangeClient):
    """Aster perpetuals (see module doc). Symbols canonical (``"BTC"``), sizes base units,
    prices USD; errors from :mod:`perpdex.errors`."""

    name = "aster"
    #: credential fields (``settings.credentials``; ``perpdex accounts add`` asks for these)
    signer_self_test = staticmethod(_signer_self_test)
    CREDENTIAL_FIELDS: tuple[str, ...] = ("private_key",)
    CREDENTIAL_OPTIONAL: tuple[str, ...] = ()
    CREDENTIAL_FORMATS = {"private_key": hex_bytes(32)}  # an EVM private key (the signer's)
    #: dotted paths of the ccxt constructor config that carry credentials: dropped from the
    #: emulator's ccxt config when an account brings its own
    CCXT_CREDENTIAL_PATHS: tuple[str, ...] = ("privateKey", "walletAddress")

    def __init__(self, settings: ExchangeSettings) -> None:
        self.symbols = AsterSymbols()
        self._unified: dict[str, str] = {}  # canonical -> ccxt unified symbol
        self._brackets: dict[str, Bracket] | None = None
        self.rest = AsterRest(settings.rest_url)
        self._private_key = self._find_key(settings)
        self._secrets = secret_values(settings.credentials) + ([self._private_key] if self._private_key else [])
        self._private: CcxtPrivate | None = None
        super().__init__(settings)

    # -- setup -----------------------------------------------------------------------------------
    @staticmethod
    def _find_key(settings: ExchangeSettings) -> str | None:
        creds = settings.credentials or {}
        key = creds.get("private_key") or creds.get("privateKey")
        if not key:
            key = (settings.options.get("ccxt") or {}).get("privateKey")
        return str(key) if key else None

    def _make_user_stream(self) -> AsterUserStream:
        """Orders, fills, positions on their own socket (see :mod:`.userstream`)."""
        return AsterUserStream(self.settings.ws_url, self.symbol_of, create_listen_key=self.create_listen_key,
                               keep_alive_listen_key=self.keep_alive_listen_key)

    async def create_listen_key(self) -> str:
        """A user-data stream key from the signed ``POST /fapi/v3/listenKey`` (protocol §6.1; valid
        60 min after creation or the last keep-alive). Raises :class:`AuthenticationError` without
        a private key, other :class:`ExchangeError` on failure."""
        priv = self._priv()
        await priv.ensure_markets()
        with priv.translate_errors():
            body = await priv.client.fapiPrivatePostV3ListenKey()
        return str(body["listenKey"])

    async def keep_alive_listen_key(self) -> None:
        """``PUT /fapi/v3/listenKey``: extends this account's listenKey by 60 min (§6.1). Raises
        :class:`ExchangeError` on failure."""
        priv = self._priv()
        with priv.translate_errors():
            await priv.client.fapiPrivatePutV3ListenKey()

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our last 100 executions in ``symbol`` from the signed ``GET /fapi/v3/userTrades?symbol=``
        (§5): qty in the market's units, price USD, fee USD (commission paid), ``ts`` epoch s.
        Raises :class:`AuthenticationError` without a private key, other :class:`ExchangeError`."""
        priv = self._priv()
        await priv.ensure_markets()
        with priv.translate_errors():
            raw = await priv.client.fapiPrivateGetV3UserTrades({"symbol": self.dex_symbol(symbol), "limit": 100})
        rows: list[UserTrade] = decode(list[UserTrade], priv.client.json(raw))
        return [fill_from_user_trade(r, symbol) for r in rows]

    def _make_feed(self) -> MarketFeed:
        return AsterMarketFeed(self.settings.ws_url, self.settings.rest_url,
                               depth_mode=self.settings.options.get("depth_mode", "partial"),
                               dex_symbol=self.dex_symbol,
                               funding_stream=bool(self.settings.options.get("funding_stream", False)))

    def dex_symbol(self, symbol: str) -> str:
        """Canonical -> exchange symbol (``"BTC"`` -> ``"BTCUSDT"``)."""
        return self.symbols.name(symbol)

    def _ccxt_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = copy.deepcopy(self.settings.options.get("ccxt") or {})
        cfg["privateKey"] = self._private_key
        opts = cfg.setdefault("options", {})
        opts["defaultType"] = "swap"
        opts["builderFee"] = False  # ccxt would otherwise add a 0.1 % builder fee (protocol §7.1)
        if self.settings.rest_url:
            base = self.settings.rest_url.rstrip("/")
            api = cfg.setdefault("urls", {}).setdefault("api", {})
            api.update({"fapiPublic": f"{base}/fapi", "fapiPrivate": f"{base}/fapi",
                        "sapiPublic": f"{base}/api", "sapiPrivate": f"{base}/api"})
        return cfg

    def _to_ccxt(self, symbol: str) -> str:
        unified = self._unified.get(symbol)
        if unified is None:
            raise MarketNotFound(f"{symbol} is not an Aster perpetual", exchange=self.name)
        return unified

    async def connect(self) -> None:
        """Load the catalog; with a private key also ccxt's markets and the leverage brackets."""
        if self._private_key:
            await self._priv().load_markets()
        await self.load_contracts()

    def _priv(self) -> CcxtPrivate:
        """The ccxt wrapper (created on first use); :class:`AuthenticationError` without a key."""
        if self._private is None:
            if not self._private_key:
                raise AuthenticationError("no private key configured (credentials.private_key)", exchange=self.name)
            exchange = install_fast_signing(ccxt_async.aster(self._ccxt_config()))  # EIP-712 ~30x faster
            self._private = CcxtPrivate(self.name, exchange, self._to_ccxt,
                                        settle=DEFAULT_QUOTE, secrets=self._secrets)
        return self._private

    def _use_rest_session(self, session: Any) -> None:
        self.rest.use_session(session)

    async def close(self) -> None:
        await super().close()
        await self.rest.close()
        if self._private is not None:
            await self._private.close()
            self._private = None

    # -- catalog ---------------------------------------------------------------------------------
    async def _leverage_brackets(self) -> dict[str, Bracket]:
        """Exchange symbol -> its first bracket (max leverage ``initialLeverage``, maintenance
        ``maintMarginRatio``) from the signed ``leverageBracket``; {} without credentials."""
        if self._brackets is None:
            if not self._private_key:
                return {}
            priv = self._priv()
            with priv.translate_errors():
                raw = await priv.client.fapiPrivateGetV3LeverageBracket()
            rows: list[LeverageBracket] = decode(list[LeverageBracket], priv.client.json(raw))
            self._brackets = {r.symbol: r.brackets[0] for r in rows if r.brackets}
        return self._brackets

    async def load_contracts(self) -> dict[str, ContractAttributes]:
        """Active and inactive perpetuals keyed by canonical coin (a USDT market wins when a coin
        trades against several quotes). Raises :class:`ExchangeError` subclasses on failure."""
        info: ExchangeInfo = await self.rest.get("/fapi/v3/exchangeInfo", into=ExchangeInfo)
        brackets = await self._leverage_brackets()
        taker = self.settings.taker_fee if self.settings.taker_fee is not None else DEFAULT_TAKER_FEE
        maker = self.settings.maker_fee if self.settings.maker_fee is not None else DEFAULT_MAKER_FEE
        out: dict[str, ContractAttributes] = {}
        for row in info.symbols:
            b = brackets.get(row.symbol)
            try:
                c = parse_contract(row, taker_fee=taker, maker_fee=maker,
                                   max_leverage=Decimal(b.initialLeverage) if b else DEFAULT_MAX_LEVERAGE,
                                   maintenance_margin_fraction=b.maintMarginRatio if b and b.maintMarginRatio > 0 else None)
            except ValueError as exc:
                log.warning("aster %s: skipped catalog row: %s", row.symbol, exc)
                continue
            if c is None:
                continue
            prev = out.get(c.symbol)
            if prev is not None and (row.quoteAsset != DEFAULT_QUOTE or not c.active):
                continue
            out[c.symbol] = c
            self.symbols.add(row.symbol)
            self._unified[c.symbol] = f"{row.baseAsset}/{row.quoteAsset}:{row.marginAsset or row.quoteAsset}"
        self._contracts = out
        return out

    # -- market data -----------------------------------------------------------------------------
    async def fetch_order_book_rest(self, symbol: str, levels: int = 10) -> Depth:
        """``GET /fapi/v3/depth`` with ``limit`` rounded up to the allowed set; bids descending,
        asks ascending, ``levels`` per side."""
        body: DepthBody = await self.rest.get(
            "/fapi/v3/depth", {"symbol": self.dex_symbol(symbol), "limit": depth_limit(levels)}, into=DepthBody)
        return depth_from_levels(body.bids, body.asks, levels)

    async def fetch_bbo_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask): the bookTicker stream / live book first, else ``GET /fapi/v3/ticker/bookTicker``.
        Raises :class:`StaleMarketData` when a side is empty."""
        try:
            bbo = self.feed.bbo(symbol)
            return bbo.bid, bbo.ask
        except StaleMarketData:
            pass
        row: BookTickerRest = await self.rest.get("/fapi/v3/ticker/bookTicker", {"symbol": self.dex_symbol(symbol)},
                                                  into=BookTickerRest)
        bid, ask = parse_book_ticker(row)
        if bid is None or ask is None:
            raise StaleMarketData(f"[{self.name}] {symbol}: empty side in bookTicker")
        return bid, ask

    # -- orders ----------------------------------------------------------------------------------
    async def place_limit_order(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, *,
                                reduce_only: bool = False, post_only: bool = False,
                                client_order_id: str | None = None) -> OrderResult:
        """Limit order (GTC, or GTX when ``post_only``; a GTX order that would cross comes back
        canceled/expired, never filled). Tick/lot rounding and min notional are checked before
        sending (:class:`InvalidOrder`)."""
        _, q, p = await self.prepare_order(symbol, side, quantity, price, reduce_only=reduce_only)
        params: dict[str, Any] = {"timeInForce": "GTX" if post_only else "GTC"}
        if reduce_only:
            params["reduceOnly"] = True
        if client_order_id:
            params["clientOrderId"] = client_order_id
        priv = self._priv()
        raw = await priv.create_order(symbol, "limit", side, q, p, params)
        return priv.to_result(raw, side, q, p)

    async def place_market_order(self, symbol: str, side: Side, quantity: Decimal, *,
                                 reduce_only: bool = False) -> OrderResult:
        """``type=MARKET``; a reduce-only order is capped by the exchange at the position size,
        so it never flips the position."""
        _, q, _ = await self.prepare_order(symbol, side, quantity, None, reduce_only=reduce_only)
        priv = self._priv()
        raw = await priv.create_order(symbol, "market", side, q, None, {"reduceOnly": True} if reduce_only else {})
        return priv.to_result(raw, side, q, None)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderResult:
        """Cancel; an unknown id (``-2011``) raises :class:`OrderNotFound`."""
        priv = self._priv()
        raw = await priv.cancel_order(symbol, order_id)
        side = Side(raw["side"]) if raw.get("side") in ("buy", "sell") else None
        res = priv.to_result(raw, side or Side.BUY, Decimal(0), None)
        res.side = side
        if res.status not in (OrderStatus.FILLED, OrderStatus.REJECTED):
            res.status = OrderStatus.CANCELED
        return res

    async def fetch_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """Order state, or None when the exchange does not know the id (``-2013``)."""
        priv = self._priv()
        try:
            raw = await priv.fetch_order(symbol, order_id)
        except OrderNotFound:
            return None
        return priv.to_info(symbol, raw)

    async def fetch_open_orders(self, symbol: str) -> list[OrderInfo]:
        """Open orders of this account on ``symbol`` (ccxt ``fetch_open_orders``)."""
        await self.contract_attributes(symbol)
        return await self._priv().open_orders(symbol)

    # -- conditional orders ----------------------------------------------------------------------
    async def place_stop_market(self, symbol: str, side: Side, quantity: Decimal, trigger_price: Decimal, *,
                                reduce_only: bool = True, trigger_by: str = "mark",
                                client_order_id: str | None = None) -> OrderResult:
        """``type=STOP_MARKET`` with ``stopPrice``, ``workingType`` ``MARK_PRICE`` (``"mark"``) or
        ``CONTRACT_PRICE`` (``"last"``) and ``reduceOnly`` (protocol §5), through ccxt
        ``create_order(type="market", params={"stopPrice": ...})``. A stop already reached is
        refused with -2021 "Order would immediately trigger." (:class:`InvalidOrder`). See
        :meth:`ExchangeClient.place_stop_market` for units."""
        _, q, p = await self.prepare_stop(symbol, side, quantity, trigger_price, reduce_only=reduce_only,
                                          trigger_by=trigger_by)
        params: dict[str, Any] = {"stopPrice": str(p),
                                  "workingType": "MARK_PRICE" if trigger_by == "mark" else "CONTRACT_PRICE"}
        if reduce_only:
            params["reduceOnly"] = True
        if client_order_id:
            params["clientOrderId"] = client_order_id
        priv = self._priv()
        raw = await priv.create_order(symbol, "market", side, q, None, params)
        return priv.to_result(raw, side, q, p)

    async def fetch_open_conditional_orders(self, symbol: str) -> list[OrderInfo]:
        """The untriggered stops among ``GET /fapi/v3/openOrders`` (rows with a ``stopPrice``),
        ``trigger_by`` from their ``workingType``."""
        await self.contract_attributes(symbol)
        priv = self._priv()
        out = []
        for raw in await priv.fetch_open_orders(symbol):
            info = priv.to_info(symbol, raw)
            if info.trigger_price is None:
                continue
            info.trigger_by = _TRIGGER_BY.get((raw.get("info") or {}).get("workingType", ""))
            out.append(info)
        return out

    async def cancel_conditional_order(self, symbol: str, order_id: str) -> OrderResult:
        """``DELETE /fapi/v3/order`` as for any order (-2011 -> :class:`OrderNotFound`)."""
        return await self.cancel_order(symbol, order_id)

    # -- account ---------------------------------------------------------------------------------
    async def fetch_position(self, symbol: str) -> ExchangePositionSnapshot | None:
        """From ``GET /fapi/v3/positionRisk``: signed size (base units), entry and mark price,
        unrealized PnL (USD), leverage, liquidation price; None when flat."""
        return await self._priv().fetch_position(symbol)

    async def fetch_available_balance(self) -> Decimal:
        """``availableBalance`` of USDT from ``GET /fapi/v3/balance`` (margin for new positions)."""
        return await self._priv().fetch_available_balance()

    async def fetch_leverage_info(self, symbol: str) -> LeverageInfo:
        """Max leverage from the brackets, current leverage from ``positionRisk`` (per symbol)."""
        c = await self.contract_attributes(symbol)
        priv = self._priv()
        b = (await self._leverage_brackets()).get(c.contract_id)
        max_lev = Decimal(b.initialLeverage) if b else c.max_leverage
        with priv.translate_errors():
            rows = await priv.client.fapiPrivateGetV3PositionRisk({"symbol": c.contract_id})
        current = None
        for row in rows if isinstance(rows, list) else [rows]:
            if row.get("symbol") == c.contract_id and row.get("leverage") not in (None, ""):
                current = Decimal(str(row["leverage"]))
        return LeverageInfo(symbol=symbol, max_leverage=max_lev, current_leverage=current,
                            margin_requirement=(Decimal(1) / current) if current else None)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """``POST /fapi/v3/leverage`` (integer, 1..max); out of range raises :class:`InvalidOrder`."""
        await self.contract_attributes(symbol)
        await self._priv().set_leverage(symbol, leverage)
        return True

    async def fetch_funding_history_pages(self, symbol: str, since: datetime,
                                          until: datetime | None = None) -> AsyncIterator[list[SettledFunding]]:
        """Settled funding rates from ``GET /fapi/v3/fundingRate`` (see
        :func:`~perpdex.exchanges.aster.funding.funding_history_pages`; base class for units and errors)."""
        dex = (await self.contract_attributes(symbol)).contract_id
        async for page in funding_history_pages(self.rest, symbol, dex, since, until):
            yield page

    async def fetch_funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """``GET /fapi/v3/income?incomeType=FUNDING_FEE`` since ``since``; amounts USD (+ received)."""
        priv = self._priv()
        with priv.translate_errors():
            rows = await priv.client.fetch_funding_history(self._to_ccxt(symbol), int(since.timestamp() * 1000))
        out = [FundingPayment(self.name, symbol, Decimal(str(r["amount"])), None,
                              datetime.fromtimestamp(r["timestamp"] / 1000, tz=UTC))
               for r in rows if r.get("amount") is not None and r.get("timestamp") is not None]
        out.sort(key=lambda p: p.ts)
        return out
