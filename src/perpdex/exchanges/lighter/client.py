"""The Lighter exchange client: native market data, private operations through ccxt.

* Catalog: ``GET /api/v1/orderBookDetails`` (perps only): tick = 10^-price_decimals, lot =
  10^-size_decimals, ``min_base_amount`` (base units), ``min_quote_amount`` (USD), max leverage
  = 10 000 / ``min_initial_margin_fraction`` (units of 0.01 %), maintenance margin fraction =
  ``maintenance_margin_fraction`` / 10 000, fees (percent strings / 100).
* REST depth: ``orderBookOrders`` returns individual resting orders (L3); they are aggregated by
  price here. Live books: :class:`~perpdex.exchanges.lighter.feed.LighterMarketFeed`.
* Private operations: ``ccxt.async_support.lighter`` (Flow A of protocol doc §7.2: account index,
  API key index, API private key, the signer library from lighter-sdk) wrapped by
  :class:`~perpdex.exchanges.ccxt_private.CcxtPrivate`. Lighter order ids are order indexes
  (``order_index``); orders are found again by their client order index.
* Leverage is per market (UpdateLeverage tx, cross margin).
* Bundled markets (``1000PEPE``) are listed under the coin (``"PEPE"``); their prices and sizes
  stay in bundle units as Lighter quotes them (see ``symbols.multiplier``).

Source of every fact: docs/exchanges/lighter.md (§2.2, §3.1, §5.5, §5.8, §5.9, §7).
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
    round_to_step,
    side_mode,
)
from ...secrets import mask_in_logs
from ..base import Depth, ExchangeClient, ExchangeSettings
from ..ccxt_private import CcxtPrivate, merge_config
from ..credentials import hex_bytes, integer
from . import schemas
from .feed import LighterMarketFeed
from .funding import funding_history_pages, perp_details
from .rest import EXCHANGE, LighterRest
from .signer import find_signer_library
from .signer import self_test as _signer_self_test
from .symbols import LighterSymbols
from .userstream import LighterUserStream, fill_from_trade

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://mainnet.zklighter.elliot.ai/stream"
DEFAULT_MARKET_SLIPPAGE = Decimal("0.005")  # worst price of a market order: 0.5 % beyond the touch
_CODE = re.compile(r'"code"\s*:\s*"?(\d+)')
_MARGIN_CODES = {21507, 21508, 21739}


def _leverage(imf_percent: Decimal) -> Decimal:
    """Leverage (x) from an initial margin fraction in percent ("5.00" -> 20)."""
    lev = Decimal(100) / imf_percent
    return lev.quantize(Decimal(1)) if lev == lev.to_integral_value() else lev


def _error_code(exc: Exception) -> int | None:
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


class LighterClient(ExchangeClient):
    """Lighter perpetuals. ``settings.credentials``: ``account_index`` (int), ``api_key_index``
    (4..254), ``api_private_key`` (0x + 80 hex), optional ``library_path`` (signer library;
    found in lighter-sdk otherwise). ``settings.options``: ``market_slippage`` (fraction, default
    0.005) and ``ccxt`` (extra ccxt constructor config, deep-merged)."""

    name = EXCHANGE
    serial_order_sends = True  # nonces per API key must arrive increasing (protocol doc §5.3)
    #: credential fields (``settings.credentials``; ``perpdex accounts add`` asks for these)
    signer_self_test = staticmethod(_signer_self_test)
    CREDENTIAL_FIELDS: tuple[str, ...] = ("account_index", "api_key_index", "api_private_key")
    CREDENTIAL_OPTIONAL: tuple[str, ...] = ("library_path",)
    CREDENTIAL_FORMATS = {"account_index": integer(0), "api_key_index": integer(0, 254),
                          "api_private_key": hex_bytes(40)}  # the signer library's key: 40 bytes
    #: dotted paths of the ccxt constructor config that carry credentials: dropped from the
    #: emulator's ccxt config when an account brings its own
    CCXT_CREDENTIAL_PATHS: tuple[str, ...] = ("options.accountIndex", "options.apiKeyIndex", "options.auths")

    def __init__(self, settings: ExchangeSettings) -> None:
        self.rest = LighterRest(settings.rest_url)
        self.rest_url = self.rest.base_url
        self.ws_url = settings.ws_url or DEFAULT_WS_URL
        self.symbols = LighterSymbols()
        self._details: dict[str, schemas.OrderBookDetail] = {}
        self._private: CcxtPrivate | None = None
        super().__init__(settings)
        self.market_slippage = Decimal(str(settings.options.get("market_slippage", DEFAULT_MARKET_SLIPPAGE)))
        self._last_nonce = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def _make_user_stream(self) -> LighterUserStream:
        """Orders, fills, positions on their own socket (see :mod:`.userstream`)."""
        return LighterUserStream(self.ws_url, self.symbol_of, account=lambda: self.account_index,
                                 auth_token=self.auth_token)

    async def auth_token(self) -> str:
        """A valid auth token for private channels and reads (protocol §5.7:
        ``{deadline}:{account_index}:{api_key_index}:{sig}``, 8 h lifetime; ccxt's signer caches it
        until a minute before its deadline). Raises :class:`ConfigError` without an account,
        :class:`AuthenticationError` / :class:`ExchangeError` when it cannot be signed."""
        priv = self.private
        await priv.ensure_markets()
        with priv.translate_errors():
            await priv.client.pre_load_lighter_library()
            c = priv.client
            token = str(c.create_auth({"accountIndex": str(self.account_index),
                                       "apiKeyIndex": str(c.options.get("apiKeyIndex"))}))
        mask_in_logs(token)  # it opens the account for 8 h: masked in every log line, as the key it comes from
        return token

    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our last 100 trades of ``symbol`` (``GET /api/v1/trades``, via ccxt ``fetch_my_trades``)
        as fills: size base units, price and fee USD, ``ts`` epoch s. Raises
        :class:`ExchangeError` on failure."""
        priv = self.private
        await priv.ensure_markets()
        with priv.translate_errors():
            rows = await priv.client.fetch_my_trades(self.symbols.ccxt_symbol(symbol), None, 100)
        acct = self.account_index
        fills = (fill_from_trade(msgspec.convert(r["info"], schemas.AccountTrade, strict=False), acct, symbol) for r in rows)
        return [f for f in fills if f is not None]

    def _make_feed(self) -> LighterMarketFeed:
        return LighterMarketFeed(self.ws_url, catalog=self.symbols, rest_url=self.rest_url,
                                 funding_stream=bool(self.settings.options.get("funding_stream", False)))


    def _ccxt_config(self) -> dict[str, Any]:
        creds = self.settings.credentials
        extra = copy.deepcopy(self.settings.options.get("ccxt") or {})
        options: dict[str, Any] = {"builderFee": False}
        if creds:
            try:
                acct, idx, key = int(creds["account_index"]), int(creds["api_key_index"]), str(creds["api_private_key"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError("exchanges.lighter.credentials",
                                  f"needs account_index, api_key_index and api_private_key ({type(exc).__name__})") from None
            options.update({
                "accountIndex": acct,
                "apiKeyIndex": idx,
                "libraryPath": creds.get("library_path") or find_signer_library(),
                "auths": {str(acct): {str(idx): {"signer": None, "lighterPrivateKey": key, "deadline": None, "token": None}}},
            })
        config = {"urls": {"api": {"root": self.rest_url, "public": self.rest_url, "private": self.rest_url, "ws": self.ws_url}},
                  "options": options}
        return merge_config(config, extra)

    def _secrets(self, config: dict[str, Any]) -> list[str]:
        """Every API private key in the credentials or the ccxt config (for redaction)."""
        keys = [self.settings.credentials.get("api_private_key")]
        for per_account in ((config.get("options") or {}).get("auths") or {}).values():
            keys.extend(a.get("lighterPrivateKey") for a in (per_account or {}).values() if isinstance(a, dict))
        return [str(k) for k in keys if k]

    @property
    def private(self) -> CcxtPrivate:
        """The ccxt wrapper (created on first use)."""
        if self._private is None:
            config = self._ccxt_config()
            client = ccxt_async.lighter(config)
            self._private = CcxtPrivate(EXCHANGE, client, self.symbols.ccxt_symbol, settle="USDC",
                                        secrets=self._secrets(config))
        return self._private

    @property
    def account_index(self) -> int:
        opts = self.private.client.options
        if opts.get("accountIndex") is None:
            raise ConfigError("exchanges.lighter.credentials", "no Lighter account configured (account_index)")
        return int(opts["accountIndex"])

    async def connect(self) -> None:
        """Load the catalog; with credentials, also ccxt's markets and the signer."""
        await self.load_contracts()
        if self.settings.credentials or self.settings.options.get("ccxt"):
            await self.private.load_markets()
            with self.private.translate_errors():
                await self.private.client.pre_load_lighter_library()

    def _use_rest_session(self, session: Any) -> None:
        self.rest.use_session(session)

    async def close(self) -> None:
        await super().close()
        if self._private is not None:
            await self._private.close()
            self._private = None
        await self.rest.close()

    # -- catalog ------------------------------------------------------------------------------------
    async def load_contracts(self) -> dict[str, ContractAttributes]:
        """Active perps of ``orderBookDetails`` as :class:`ContractAttributes` (spot excluded)."""
        body = await self.rest.get("/api/v1/orderBookDetails")
        out, self._details = parse_catalog(body, self.symbols, self.settings.taker_fee, self.settings.maker_fee)
        self._contracts = out
        return out

    # -- market data ----------------------------------------------------------------------------------
    async def fetch_order_book_rest(self, symbol: str, levels: int = 10) -> Depth:
        """Top ``levels`` of ``orderBookOrders`` aggregated by price: ``{'bids': [{'price',
        'size'}], 'asks': [...]}`` Decimal, bids descending, asks ascending; empty side = []."""
        await self.contract_attributes(symbol)
        params = {"market_id": self.symbols.market_id(symbol), "limit": min(250, max(levels * 10, 50))}
        return depth_from_orders(await self.rest.get("/api/v1/orderBookOrders", params, into=schemas.order_book_orders),
                                 levels)

    async def fetch_funding_history_pages(self, symbol: str, since: datetime,
                                          until: datetime | None = None) -> AsyncIterator[list[SettledFunding]]:
        """Settled hourly funding from ``GET /api/v1/fundings`` (see
        :func:`~perpdex.exchanges.lighter.funding.funding_history_pages`; base class for units and errors)."""
        await self.contract_attributes(symbol)
        async for page in funding_history_pages(self.rest, symbol, self.symbols.market_id(symbol), since, until):
            yield page

    # -- orders ---------------------------------------------------------------------------------------
    def _refine(self, exc: ExchangeError, *, cancel: bool = False) -> ExchangeError:
        """Narrow a ccxt-mapped error by Lighter's code (ccxt maps 21739 "not enough margin"
        and 21600 "not an active order" to InvalidOrder)."""
        code = _error_code(exc)
        msg = str(exc).removeprefix(f"[{EXCHANGE}] ")
        if code in _MARGIN_CODES:
            return InsufficientMargin(msg, exchange=EXCHANGE, code=code)
        if cancel and code in (21600, 21700, 21709, 21715):
            return OrderNotFound(msg, exchange=EXCHANGE, code=code)
        if code is not None and 23000 <= code <= 23003:
            return RateLimited(msg, exchange=EXCHANGE, code=code)
        if code == 20013:  # the emulator's invalid/expired auth token code
            return AuthenticationError(msg, exchange=EXCHANGE, code=code)
        exc.code = code if code is not None else exc.code
        return exc

    def _with_nonce(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the next nonce of our API key: the current ms timestamp (ccxt signs
        with skip-nonce, protocol doc §5.3) but always above the previous one, so transactions
        signed within one millisecond never share a nonce. Call under :meth:`order_send_lock`,
        which keeps the arrival order equal to the nonce order."""
        self._last_nonce = max(int(time.time() * 1000), self._last_nonce + 1)
        return {**params, "nonce": self._last_nonce}

    @staticmethod
    def _client_index(client_order_id: str | None) -> int:
        if client_order_id is not None:
            if not client_order_id.isdigit() or not 0 < int(client_order_id) < 1 << 48:
                raise InvalidOrder(f"client_order_id must be an integer in 1..2^48-1, got {client_order_id!r}", exchange=EXCHANGE)
            return int(client_order_id)
        return random.randint(1, 2**31 - 1)

    async def _submit(self, symbol: str, order_type: str, side: Side, qty: Decimal, price: Decimal,
                      params: dict[str, Any]) -> OrderResult:
        cid = params["clientOrderId"]
        try:
            async with self.order_send_lock():
                await self.private.create_order(symbol, order_type, side, qty, price, self._with_nonce(params))
        except ExchangeError as exc:
            raise self._refine(exc) from None
        raw = await self._order_by_client_index(symbol, cid)
        if raw is None:
            log.warning("%s %s: order with client index %s accepted but not found", EXCHANGE, symbol, cid)
            return OrderResult(True, None, side, qty, price, OrderStatus.OPEN, client_order_id=str(cid))
        result = self.private.to_result(raw, side, qty, price)
        log.info("%s %s: %s %s %s @ %s -> %s (id %s)", EXCHANGE, symbol, order_type, side.value, qty, price,
                 result.status.value, result.order_id)
        return result

    async def _order_by_client_index(self, symbol: str, client_index: int) -> dict[str, Any] | None:
        """ccxt order dict of our order with ``client_index`` (``GET accountOrders``)."""
        client = self.private.client
        with self.private.translate_errors():
            resp = await client.privateGetAccountOrders({"account_index": self.account_index,
                                                         "client_order_indexes": str(client_index)})
            rows = resp.get("orders") or []
            market = client.market(self.symbols.ccxt_symbol(symbol))
            orders = [client.parse_order(r, market) for r in rows]
        return orders[-1] if orders else None

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
        """Limit order (good-till-time, or post-only): price rounded passively to the tick, size
        down to the lot; min size and min notional (USD) checked before sending
        (:class:`InvalidOrder`). A post-only order that would cross comes back CANCELED."""
        _, qty, px = await self.prepare_order(symbol, side, quantity, price, reduce_only=reduce_only)
        if px is None:
            raise InvalidOrder(f"{symbol}: a limit order needs a price", exchange=EXCHANGE)
        params: dict[str, Any] = {"clientOrderId": self._client_index(client_order_id), "reduceOnly": reduce_only}
        if post_only:
            params["postOnly"] = True
        return await self._submit(symbol, "limit", side, qty, px, params)

    async def slippage_price(self, symbol: str, side: Side) -> Decimal:
        """Worst acceptable price for a market order: the touch (ask for buys, bid for sells)
        moved ``market_slippage`` against us, rounded to the tick away from the book."""
        c = await self.contract_attributes(symbol)
        bid, ask = await self.fetch_bbo_prices(symbol)
        raw = ask * (1 + self.market_slippage) if side is Side.BUY else bid * (1 - self.market_slippage)
        return round_to_step(raw, c.tick_size, side_mode(side, passive=False))

    async def place_market_order(self, symbol: str, side: Side, quantity: Decimal, *, reduce_only: bool = False) -> OrderResult:
        """Market order (type 1, immediate-or-cancel) capped at :meth:`slippage_price`; the
        unfilled remainder is canceled by the exchange. Raises :class:`StaleMarketData` when the
        book has an empty side."""
        _, qty, _ = await self.prepare_order(symbol, side, quantity, None, reduce_only=reduce_only)
        px = await self.slippage_price(symbol, side)
        params = {"clientOrderId": self._client_index(None), "reduceOnly": reduce_only}
        return await self._submit(symbol, "market", side, qty, px, params)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderResult:
        """Cancel by Lighter order index (or client order index); unknown or inactive orders
        raise :class:`OrderNotFound` (Lighter code 21600)."""
        await self.contract_attributes(symbol)
        try:
            async with self.order_send_lock():
                await self.private.cancel_order(symbol, order_id, self._with_nonce({}))
        except ExchangeError as exc:
            raise self._refine(exc, cancel=True) from None
        return OrderResult(True, order_id, status=OrderStatus.CANCELED)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """Order state from ``accountActiveOrders`` then ``accountInactiveOrders`` (last 100);
        None when the id is in neither."""
        await self.contract_attributes(symbol)
        p = self.private
        await p.ensure_markets()
        unified = self.symbols.ccxt_symbol(symbol)
        with p.translate_errors():
            for fetch in (p.client.fetch_open_orders, p.client.fetch_closed_orders):
                for raw in await fetch(unified):
                    if str(raw.get("id")) == str(order_id):
                        return p.to_info(symbol, raw)
        return None

    async def fetch_open_orders(self, symbol: str) -> list[OrderInfo]:
        """Open orders of this account on ``symbol`` (ccxt ``fetch_open_orders``)."""
        await self.contract_attributes(symbol)
        return await self.private.open_orders(symbol)

    # -- conditional orders -------------------------------------------------------------------------
    #: Lighter's stop-loss orders trigger on the mark price (``trigger_status: mark-price``)
    stop_trigger_types = ("mark",)

    async def place_stop_market(self, symbol: str, side: Side, quantity: Decimal, trigger_price: Decimal, *,
                                reduce_only: bool = True, trigger_by: str = "mark",
                                client_order_id: str | None = None) -> OrderResult:
        """Order type 2 (stop-loss, immediate-or-cancel once triggered) with ``TriggerPrice`` and
        ``ReduceOnly`` through the lighter signer (ccxt ``create_order(type="market",
        params={"stopLossPrice": ...})``); ``Price`` is the worst execution price,
        ``market_slippage`` beyond the trigger. Reads back ``pending`` (OPEN here).
        ``client_order_id``: an integer 1..2^48-1. See :meth:`ExchangeClient.place_stop_market`."""
        c, qty, p = await self.prepare_stop(symbol, side, quantity, trigger_price, reduce_only=reduce_only,
                                            trigger_by=trigger_by)
        raw = p * (1 + self.market_slippage) if side is Side.BUY else p * (1 - self.market_slippage)
        worst = round_to_step(raw, c.tick_size, side_mode(side, passive=False))
        params = {"clientOrderId": self._client_index(client_order_id), "reduceOnly": reduce_only,
                  "stopLossPrice": str(p), "orderExpiry": -1}  # -1: the signer's default 28-day expiry
        res = await self._submit(symbol, "market", side, qty, worst, params)
        res.price = p
        return res

    async def fetch_open_conditional_orders(self, symbol: str) -> list[OrderInfo]:
        """The ``pending`` trigger orders among ``accountActiveOrders`` (those with a
        ``trigger_price``); ``trigger_by`` is ``"mark"``."""
        out = [o for o in await self.fetch_open_orders(symbol) if o.trigger_price is not None]
        for o in out:
            o.trigger_by = "mark"
        return out

    async def cancel_conditional_order(self, symbol: str, order_id: str) -> OrderResult:
        """Cancel transaction (type 15) as for any order (:class:`OrderNotFound`, code 21600)."""
        return await self.cancel_order(symbol, order_id)

    # -- account ------------------------------------------------------------------------------------
    async def _account(self) -> schemas.Account:
        """Our account from ``GET /api/v1/account?by=index`` (through ccxt's implicit API)."""
        p = self.private
        await p.ensure_markets()
        with p.translate_errors():
            resp = await p.client.publicGetAccount({"by": "index", "value": self.account_index})
        try:
            accounts = msgspec.convert(resp, schemas.AccountResponse, strict=False).accounts
        except msgspec.ValidationError as exc:
            raise ExchangeError(f"malformed account response: {exc}", exchange=EXCHANGE) from None
        if not accounts:
            raise ExchangeError(f"account {self.account_index} not found", exchange=EXCHANGE)
        return accounts[0]

    async def fetch_position(self, symbol: str) -> ExchangePositionSnapshot | None:
        """Signed size (base units, + long), entry and mark (USD; mark = position_value / size),
        unrealized PnL (USD), leverage (100 / initial_margin_fraction percent), liquidation
        price; None when flat."""
        await self.contract_attributes(symbol)
        return position_from_account(await self._account(), self.symbols.market_id(symbol), symbol)

    async def fetch_available_balance(self) -> Decimal:
        """``available_balance`` (USD): what new positions can use, as Lighter computes it."""
        return (await self._account()).available_balance

    async def fetch_leverage_info(self, symbol: str) -> LeverageInfo:
        """Max leverage from the catalog; current leverage from the account's per-market
        initial margin fraction, else the market's ``default_initial_margin_fraction``."""
        c = await self.contract_attributes(symbol)
        mid = self.symbols.market_id(symbol)
        current: Decimal | None = None
        for pos in (await self._account()).positions:
            if pos.market_id == mid and pos.initial_margin_fraction > 0:
                current = _leverage(pos.initial_margin_fraction)
        if current is None:
            d = self._details.get(symbol)
            if d is not None and d.default_initial_margin_fraction > 0:
                current = _leverage(Decimal(d.default_initial_margin_fraction) / 100)
        return LeverageInfo(symbol, c.max_leverage, current, (1 / current) if current else None)

    async def fetch_funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Funding settled on our ``symbol`` position since ``since`` (UTC), oldest first, from
        ``GET /api/v1/positionFunding`` (auth; through ccxt's implicit API): ``change`` USDC,
        + received / - paid; ``rate`` percent per hour -> fraction per 1 h interval; ``timestamp``
        seconds. Reads the latest 100 settlements."""
        await self.contract_attributes(symbol)
        p = self.private
        await p.ensure_markets()
        with p.translate_errors():
            resp = await p.client.privateGetPositionFunding({
                "account_index": self.account_index, "market_ids": str(self.symbols.market_id(symbol)), "limit": 100,
                "start_timestamp": int(since.timestamp() * 1000),
            })
        return funding_payments(resp, self.symbols.market_id(symbol), symbol, since)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """UpdateLeverage (tx 20) in cross margin: initial margin fraction = floor(10 000 /
        leverage). Raises :class:`InvalidOrder` outside 1..max leverage."""
        c = await self.contract_attributes(symbol)
        lev = int(leverage)
        if lev < 1 or lev > c.max_leverage:
            raise InvalidOrder(f"{symbol}: leverage {leverage} outside 1..{c.max_leverage}", exchange=EXCHANGE)
        try:
            async with self.order_send_lock():
                await self.private.set_leverage(symbol, Decimal(lev), self._with_nonce({"marginMode": "cross"}))
        except ExchangeError as exc:
            raise self._refine(exc) from None
        log.info("%s %s: leverage set to %dx (cross)", EXCHANGE, symbol, lev)
        return True


def parse_catalog(body: bytes, symbols: LighterSymbols, taker: Decimal | None = None, maker: Decimal | None = None,
                  ) -> tuple[dict[str, ContractAttributes], dict[str, schemas.OrderBookDetail]]:
    """Perps of an ``orderBookDetails`` body (spot list ignored; inactive markets kept with
    ``active=False``): canonical symbol -> attributes, and -> raw detail. Registers ids in
    ``symbols``."""
    details = perp_details(body, symbols)
    contracts = {symbol: contract_from_detail(symbol, d, taker, maker, Decimal(symbols.multiplier(symbol)))
                 for symbol, d in details.items()}
    return contracts, details


def position_from_account(account: schemas.Account, market_id: int, symbol: str) -> ExchangePositionSnapshot | None:
    """The signed position of ``market_id`` in an ``account`` object, None when flat.
    ``sign`` gives the side; ``position`` is absolute base units; mark = position_value / size;
    leverage = 100 / initial_margin_fraction (percent); funding paid out is reported negative."""
    for pos in account.positions:
        if pos.market_id != market_id or pos.position == 0:
            continue
        sign = Decimal(1) if pos.sign >= 0 else Decimal(-1)
        imf = pos.initial_margin_fraction
        return ExchangePositionSnapshot(
            exchange=EXCHANGE, symbol=symbol, quantity=pos.position * sign, entry_price=pos.avg_entry_price,
            mark_price=pos.position_value / pos.position, unrealized_pnl=pos.unrealized_pnl,
            leverage=_leverage(imf) if imf > 0 else None, liquidation_price=pos.liquidation_price or None,
            margin_used=(pos.position_value * imf / 100) if imf > 0 else None,
            cumulative_funding=-pos.total_funding_paid_out if pos.total_funding_paid_out is not None else None,
        )
    return None


def funding_payments(resp: Any, market_id: int, symbol: str, since: datetime) -> list[FundingPayment]:
    """``positionFunding`` rows of ``market_id`` at or after ``since`` as :class:`FundingPayment`
    (``change`` USD, + received; ``rate`` percent per hour / 100; ``timestamp`` seconds), oldest
    first. Malformed rows are skipped with a warning."""
    out: list[FundingPayment] = []
    for row in (resp or {}).get("position_fundings") or []:
        try:
            if int(row["market_id"]) != market_id:
                continue
            ts = datetime.fromtimestamp(int(row["timestamp"]), tz=UTC)
            rate = row.get("rate")
            fid = row.get("funding_id")
            payment = FundingPayment(EXCHANGE, symbol, Decimal(str(row["change"])),
                                     Decimal(str(rate)) / 100 if rate not in (None, "") else None, ts,
                                     str(fid) if fid is not None else None)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            log.warning("%s %s: skipped malformed positionFunding row (%s)", EXCHANGE, symbol, exc)
            continue
        if ts >= _floor_s(since):
            out.append(payment)
    out.sort(key=lambda p: p.ts)
    return out


def _floor_s(t: datetime) -> datetime:
    """``t`` truncated to the second (positionFunding timestamps are whole seconds)."""
    return t.replace(microsecond=0)


def contract_from_detail(symbol: str, d: schemas.OrderBookDetail, taker: Decimal | None = None,
                         maker: Decimal | None = None, multiplier: Decimal = Decimal(1)) -> ContractAttributes:
    """:class:`ContractAttributes` of one ``orderBookDetails`` market. Fees: Lighter quotes them
    as percent strings (``"0.0200"`` = 2 bp, inferred from the premium schedule), so /100.
    ``multiplier``: tokens per unit of a bundled market (``1000PEPE``: 1000)."""
    return ContractAttributes(
        exchange=EXCHANGE,
        symbol=symbol,
        contract_id=str(d.market_id),
        tick_size=Decimal(1).scaleb(-d.price_decimals),
        lot_size=Decimal(1).scaleb(-d.size_decimals),
        min_size=d.min_base_amount,
        min_notional=d.min_quote_amount,
        max_leverage=(Decimal(10_000) / d.min_initial_margin_fraction) if d.min_initial_margin_fraction > 0 else Decimal(1),
        taker_fee=taker if taker is not None else d.taker_fee / 100,
        maker_fee=maker if maker is not None else d.maker_fee / 100,
        active=d.status == "active",
        multiplier=multiplier,
        maintenance_margin_fraction=(Decimal(d.maintenance_margin_fraction) / 10_000) if d.maintenance_margin_fraction > 0 else None,
    )


def depth_from_orders(resp: schemas.OrderBookOrdersResponse, levels: int) -> Depth:
    """Aggregate L3 rows by price (summing ``remaining_base_amount``); bids descending, asks
    ascending; rows with a non-positive price or size are ignored."""

    def side(rows: list[schemas.RestingOrder], descending: bool) -> list[dict[str, Decimal]]:
        agg: dict[Decimal, Decimal] = {}
        for r in rows:
            if r.price > 0 and r.remaining_base_amount > 0:
                agg[r.price] = agg.get(r.price, Decimal(0)) + r.remaining_base_amount
        return [{"price": p, "size": agg[p]} for p in sorted(agg, reverse=descending)[:levels]]

    return {"bids": side(resp.bids, True), "asks": side(resp.asks, False)}
