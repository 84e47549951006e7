"""The three interfaces every exchange implements, with the WS-first defaults of the spec.

* :class:`ExchangeClient`: market access (depth, BBO, contract attributes, feed preparation) and
  private operations (orders, positions, balance, leverage).
* :class:`FundingAdapter`: funding rates normalized to 8h, 24h volume and open interest in USD,
  symbol mapping.
* :class:`~perpdex.exchanges.feed.MarketFeed`: per-symbol books (``feed.py``).

Symbols at this level are canonical (``"BTC"``); each exchange maps them to its own format.

Every exchange implements every method: the ones without a shared default are abstract, so a
client class missing one cannot be instantiated, and callers never probe for a capability by
catching ``NotImplementedError``. Names follow ccxt: ``fetch_*`` goes over the network, a plain
name or property reads local state (docs/ARCHITECTURE.md, "Naming").
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp

from ..errors import InvalidOrder, MarketNotFound, StaleMarketData
from ..models import (
    BBO,
    ContractAttributes,
    ExchangePositionSnapshot,
    FundingPayment,
    FundingRateSample,
    LeverageInfo,
    MarketStats,
    OrderInfo,
    OrderResult,
    SettledFunding,
    Side,
    UserFill,
)
from .feed import MarketFeed
from .http import RestClient
from .userstream import UserStream

log = logging.getLogger(__name__)

Depth = dict[str, list[dict[str, Decimal]]]


@dataclass
class ExchangeSettings:
    """What a client needs from config. URLs default to the live exchange when None.

    ``credentials`` is exchange specific (private key, account index...); it is never logged.
    ``taker_fee``/``maker_fee`` override the exchange's catalog fees (fractions, 0.00035 = 3.5 bp).
    """

    name: str
    rest_url: str | None = None
    ws_url: str | None = None
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    taker_fee: Decimal | None = None
    maker_fee: Decimal | None = None
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # may carry sim credentials
    #: seconds a connected feed / user stream may stay silent before it is down (None: the exchange's default)
    stream_silence_s: float | None = None


class ExchangeClient(abc.ABC):
    """One exchange: market data (WS-first, REST fallback) and private operations.

    Sizes are base units, prices quote units (USD), all ``Decimal``. Errors are the typed
    hierarchy of :mod:`perpdex.errors`.
    """

    name: str = ""
    #: How the exchange applies leverage (protocol docs of each exchange): ``"per_market"`` (set
    #: per symbol, e.g. Aster ``POST /fapi/v3/leverage``), ``"account"`` (one limit for every
    #: market of the account, e.g. Backpack ``leverageLimit``) or ``"implicit"`` (no setting:
    #: leverage follows from the margin posted; :meth:`set_leverage` returns False).
    leverage_model: str = "per_market"
    #: True where the exchange needs this account's transactions to arrive one at a time, in
    #: the order they were signed (per-key increasing nonces, e.g. docs/exchanges/lighter.md §5.3):
    #: the client then signs and sends them under :meth:`order_send_lock`.
    serial_order_sends: bool = False
    _send_lock: asyncio.Lock | None = None

    def order_send_lock(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held while one order/cancel/leverage transaction is signed and sent: one lock for
        every send of this client when :attr:`serial_order_sends`, else a no-op."""
        if not self.serial_order_sends:
            return contextlib.nullcontext()
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        return self._send_lock

    def __init__(self, settings: ExchangeSettings) -> None:
        self.settings = settings
        self.feed: MarketFeed = self._make_feed()
        self._configure_stream(self.feed)
        self._contracts: dict[str, ContractAttributes] = {}
        #: The user-data stream (orders, fills, positions, liquidations) once started with
        #: :meth:`start_user_stream`; its own socket, untouched by market-data pause/resume.
        self.user_stream: UserStream | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _make_feed(self) -> MarketFeed: ...

    @abc.abstractmethod
    async def connect(self) -> None:
        """Load the market catalog (and private clients when credentials are set)."""

    async def close(self) -> None:
        await self.stop_user_stream()
        await self.feed.close()

    def use_session(self, session: Any) -> None:
        """Route the public REST calls (catalog, depth) and the market feed through ``session``
        (an ``aiohttp.ClientSession`` or a drop-in: the recording tap, the replay transport);
        call before :meth:`connect`. The caller closes it. Private (signed) calls are unaffected."""
        use = getattr(self.feed, "use_session", None)
        if use is not None:
            use(session)
        self._use_rest_session(session)

    def _configure_stream(self, stream: Any) -> None:
        """Apply the config's silence bound (``stream_silence_s``) to a feed or user stream."""
        silence = getattr(self.settings, "stream_silence_s", None)
        if silence is not None and hasattr(stream, "set_silence_timeout"):
            stream.set_silence_timeout(silence)

    @abc.abstractmethod
    def _use_rest_session(self, session: Any) -> None:
        """Hook: point this client's public REST helper at ``session``."""

    # -- user-data stream -----------------------------------------------------------------------
    _symbol_index: tuple[dict[str, ContractAttributes], dict[str, str]] | None = None

    @abc.abstractmethod
    def _make_user_stream(self) -> UserStream:
        """Hook: this exchange's :class:`UserStream`, built with what it needs from this client
        (catalog mapping :meth:`symbol_of`, public auth methods)."""

    def symbol_of(self, contract_id: str) -> str:
        """Exchange symbol / market id (``ContractAttributes.contract_id``, e.g. ``"BTCUSDT"``) ->
        canonical symbol (``"BTC"``), from the loaded catalog. Raises ``KeyError`` when the
        catalog does not list it."""
        contracts = self._contracts
        for attempt in (0, 1):
            if self._symbol_index is None or self._symbol_index[0] is not contracts or attempt:
                self._symbol_index = (contracts, {c.contract_id: c.symbol for c in contracts.values()})
            sym = self._symbol_index[1].get(contract_id)
            if sym is not None:
                return sym
        raise KeyError(contract_id)

    async def start_user_stream(self, symbols: list[str] | tuple[str, ...] = ()) -> UserStream:
        """Start (idempotent) the private order/fill/position stream on its own socket, tracking
        ``symbols``; returns without waiting (use ``stream.wait_connected(timeout)``). The stream
        only decodes and reports: the REST catch-up after every (re)connect is attached by the
        runtime (``perpdex.runtime.streams.start_user_streams``), not here. Raises
        :class:`~perpdex.errors.AuthenticationError` without credentials (when connecting)."""
        if self.user_stream is None:
            stream = self._make_user_stream()
            self._configure_stream(stream)
            self.user_stream = stream
        for s in symbols:
            self.user_stream.track(s)
        self.user_stream.start()
        return self.user_stream

    @abc.abstractmethod
    async def fetch_fills(self, symbol: str) -> list[UserFill]:
        """Our recent executions in ``symbol`` from the exchange's fill history over REST (its most
        recent page, any order): ``qty`` base units of the exchange's market, ``price`` USD, ``fee``
        USD, ``ts`` epoch seconds, each with the exchange's trade id. Works without the stream
        running (the same request the runtime reconciles the stream with). Raises
        :class:`~perpdex.errors.ExchangeError` on failure."""

    async def stop_user_stream(self) -> None:
        """Stop the user stream (if started); its recorded fills/orders stay readable."""
        if self.user_stream is not None:
            await self.user_stream.stop()

    # -- market catalog -------------------------------------------------------------------------
    @abc.abstractmethod
    async def load_contracts(self) -> dict[str, ContractAttributes]:
        """Fetch the market catalog (canonical symbol -> attributes, inactive perps flagged
        ``active=False``), keep it as :attr:`contracts` (every client the same way) and return it."""

    async def contract_attributes(self, symbol: str) -> ContractAttributes:
        """Attributes of ``symbol`` from the loaded catalog (loaded first, once, by
        :meth:`load_contracts` when :meth:`connect` has not); raises :class:`MarketNotFound` if
        not listed or inactive."""
        if not self._contracts:
            await self.load_contracts()
        c = self._contracts.get(symbol)
        if c is None or not c.active:
            raise MarketNotFound(f"{symbol} is not an active perpetual market", exchange=self.name)
        return c

    @property
    def contracts(self) -> dict[str, ContractAttributes]:
        """The catalog last read by :meth:`load_contracts` ({} before)."""
        return self._contracts

    # -- market data ----------------------------------------------------------------------------
    async def prepare_market_feed(self, symbol: str) -> None:
        """Start the WebSocket book (and BBO) streams for ``symbol``; does not wait (use
        ``feed.wait_ready``)."""
        await self.contract_attributes(symbol)
        await self.feed.prepare(symbol)

    async def pause_market_data_streams(self) -> None:
        """Stop market-data traffic (books, BBO) until the next :meth:`resume_market_data_streams`
        or :meth:`prepare_market_feed`; private operations and the user stream
        (:attr:`user_stream`, its own socket) are unaffected."""
        await self.feed.pause()

    async def resume_market_data_streams(self, symbol: str | None = None) -> None:
        """Restart market data for every symbol prepared before the pause (and ``symbol``);
        await ``feed.wait_ready(symbol, timeout)`` for a served book."""
        if symbol is not None:
            await self.contract_attributes(symbol)
        await self.feed.resume(symbol)

    def feed_depth(self, symbol: str, levels: int = 10) -> Depth | None:
        """Depth from the live WebSocket book, or None if it is not ready / stale / crossed."""
        try:
            return self.feed.book(symbol).depth(levels)
        except StaleMarketData:
            return None

    @abc.abstractmethod
    async def fetch_order_book_rest(self, symbol: str, levels: int = 10) -> Depth:
        """Depth over REST, bids descending, asks ascending, empty side = empty list."""

    async def fetch_order_book(self, symbol: str, levels: int = 10) -> Depth:
        """``{'bids': [{'price': Decimal, 'size': Decimal}, ...], 'asks': [...]}``, best first.
        WebSocket book first, REST when the feed is not ready."""
        depth = self.feed_depth(symbol, levels)
        if depth is not None:
            return depth
        return await self.fetch_order_book_rest(symbol, levels)

    async def fetch_bbo_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(best bid, best ask) in quote units: BBO stream/book first, REST depth otherwise.
        Raises :class:`StaleMarketData` if a side is empty."""
        try:
            bbo: BBO = self.feed.bbo(symbol)
            return bbo.bid, bbo.ask
        except (StaleMarketData, AttributeError):
            pass
        depth = await self.fetch_order_book_rest(symbol, 1)
        if not depth["bids"] or not depth["asks"]:
            raise StaleMarketData(f"[{self.name}] {symbol}: empty side in REST book")
        return depth["bids"][0]["price"], depth["asks"][0]["price"]

    # -- private operations ---------------------------------------------------------------------
    async def prepare_order(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal | None, *, reduce_only: bool = False
    ) -> tuple[ContractAttributes, Decimal, Decimal | None]:
        """Round ``quantity`` down to the lot size and ``price`` passively to the tick, then check
        the minimum size and (unless reduce-only) the minimum notional, before anything is sent.
        ``price`` None (market) is checked at the book's touch. Returns (attributes, quantity,
        price). Raises :class:`InvalidOrder`."""
        c = await self.contract_attributes(symbol)
        if self.user_stream is not None:
            self.user_stream.track(symbol)
        q = c.round_size(quantity)
        p = c.round_price(price, side) if price is not None else None
        if q <= 0 or q < c.min_size:
            raise InvalidOrder(f"{symbol}: size {quantity} rounds to {q}, below minimum {c.min_size or c.lot_size}", exchange=self.name)
        if not reduce_only and c.min_notional > 0:
            ref = p
            if ref is None:
                bid, ask = await self.fetch_bbo_prices(symbol)
                ref = ask if side is Side.BUY else bid
            if q * ref < c.min_notional:
                raise InvalidOrder(f"{symbol}: notional {q * ref} below minimum {c.min_notional} USD", exchange=self.name)
        return c, q, p

    @abc.abstractmethod
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
        """Limit order; price rounded to tick (passively), quantity to lot; min notional checked
        before sending (:class:`InvalidOrder`), except for reduce-only orders."""

    @abc.abstractmethod
    async def place_market_order(
        self, symbol: str, side: Side, quantity: Decimal, *, reduce_only: bool = False
    ) -> OrderResult:
        """Market order (or the exchange's aggressive IOC equivalent)."""

    @abc.abstractmethod
    async def cancel_order(self, symbol: str, order_id: str) -> OrderResult:
        """Cancel; raises :class:`OrderNotFound` for an unknown id."""

    @abc.abstractmethod
    async def fetch_order(self, symbol: str, order_id: str) -> OrderInfo | None:
        """One order of this account by exchange id (open or recently final: sizes base units,
        prices USD); None where the exchange no longer knows it. Raises
        :class:`~perpdex.errors.ExchangeError` on failure."""

    @abc.abstractmethod
    async def fetch_open_orders(self, symbol: str) -> list[OrderInfo]:
        """This account's open orders on ``symbol`` (sizes base units, prices USD). Raises
        :class:`~perpdex.errors.ExchangeError` on failure."""

    @staticmethod
    def signer_self_test() -> str:
        """Check, offline, that this exchange's request signing works on this install (sign a test
        message with a throw-away key and verify it); returns one line saying what was checked.
        Raises :class:`~perpdex.errors.DependencyMissing` naming the package to install."""
        return "no signing needed"

    # -- conditional (stop-market) orders ----------------------------------------------------------
    #: the trigger references this exchange accepts for :meth:`place_stop_market`
    stop_trigger_types: tuple[str, ...] = ("mark", "last")

    async def prepare_stop(self, symbol: str, side: Side, quantity: Decimal, trigger_price: Decimal, *,
                           reduce_only: bool, trigger_by: str) -> tuple[ContractAttributes, Decimal, Decimal]:
        """:meth:`prepare_order` for a stop: ``quantity`` rounded down to the lot, ``trigger_price``
        to the tick (toward the market: up for a sell, down for a buy, so the stop never fires
        later than asked); ``trigger_by`` checked against :attr:`stop_trigger_types`. Raises
        :class:`InvalidOrder`."""
        if trigger_by not in self.stop_trigger_types:
            raise InvalidOrder(f"{symbol}: trigger by {trigger_by!r} not supported (use one of "
                               f"{', '.join(self.stop_trigger_types)})", exchange=self.name)
        if trigger_price <= 0:
            raise InvalidOrder(f"{symbol}: trigger price {trigger_price} must be positive", exchange=self.name)
        c, q, p = await self.prepare_order(symbol, side, quantity, trigger_price, reduce_only=reduce_only)
        assert p is not None
        return c, q, p

    @abc.abstractmethod
    async def place_stop_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        trigger_price: Decimal,
        *,
        reduce_only: bool = True,
        trigger_by: str = "mark",
        client_order_id: str | None = None,
    ) -> OrderResult:
        """Rest a stop-market order on the exchange: when the ``trigger_by`` price (``"mark"`` or
        ``"last"``, see :attr:`stop_trigger_types`) reaches ``trigger_price`` (USD; a sell fires
        when it falls to it, a buy when it rises to it) the exchange sends a market order of
        ``quantity`` base units. ``reduce_only`` (default) makes the exchange cap it to the
        position at that moment, so it never opens a reverse position. The result's status is
        OPEN while untriggered. Raises :class:`InvalidOrder` for bad parameters and for a trigger
        the exchange refuses (already reached: "would trigger immediately", with the exchange's
        message), other :class:`~perpdex.errors.ExchangeError` subclasses on failure."""

    @abc.abstractmethod
    async def fetch_open_conditional_orders(self, symbol: str) -> list[OrderInfo]:
        """This account's untriggered conditional orders on ``symbol``, each with
        ``trigger_price`` (USD), ``size`` (base units), ``reduce_only`` and ``client_order_id``
        (where the exchange keeps one). Raises :class:`~perpdex.errors.ExchangeError` on failure."""

    @abc.abstractmethod
    async def cancel_conditional_order(self, symbol: str, order_id: str) -> OrderResult:
        """Cancel an untriggered conditional order; raises :class:`~perpdex.errors.OrderNotFound`
        for an unknown (or already triggered / cancelled) id."""

    @abc.abstractmethod
    async def fetch_position(self, symbol: str) -> ExchangePositionSnapshot | None:
        """Signed position for ``symbol`` or None when flat."""

    @abc.abstractmethod
    async def fetch_available_balance(self) -> Decimal:
        """Available margin in USD for new positions (not the total wallet balance)."""

    @abc.abstractmethod
    async def fetch_leverage_info(self, symbol: str) -> LeverageInfo:
        """Max leverage of ``symbol`` (brackets / initial margin fraction) and the leverage
        currently in force for it on this account (None when the exchange does not say)."""

    @abc.abstractmethod
    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Set leverage for ``symbol`` (for every market where :attr:`leverage_model` is
        ``"account"``); False where the exchange has no such setting (``"implicit"``)."""

    @abc.abstractmethod
    def fetch_funding_history_pages(self, symbol: str, since: datetime,
                                    until: datetime | None = None) -> AsyncIterator[list[SettledFunding]]:
        """The exchange's public settled funding of ``symbol`` (canonical) with ``since <=
        funding_time <= until`` (UTC; ``until`` None: now), one list per request answered, over
        the network, inside the exchange's rate budget. Pages come **oldest first** wherever the
        endpoint can be walked forward (so a caller storing each page loses at most one on an
        interruption and resumes from its newest row). Rows: ``rate`` fraction per interval of
        ``interval_hours`` (positive: longs pay), normalized by the same function as the live
        funding adapter. Raises :class:`~perpdex.errors.ExchangeError` (subclasses) naming the
        exchange and the request on a bad answer, :class:`~perpdex.errors.MarketNotFound` for an
        unknown symbol."""

    async def fetch_funding_history(self, symbol: str, since: datetime,
                                    until: datetime | None = None) -> list[SettledFunding]:
        """Every row of :meth:`fetch_funding_history_pages`, oldest first (same errors)."""
        rows: list[SettledFunding] = []
        async for page in self.fetch_funding_history_pages(symbol, since, until):
            rows.extend(page)
        return sorted(rows, key=lambda r: r.funding_time)

    @abc.abstractmethod
    async def fetch_funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Funding settled on this account's ``symbol`` position since ``since`` (UTC), oldest
        first; amounts USD, + received / - paid. Raises :class:`~perpdex.errors.ExchangeError` on
        failure."""


class FundingAdapter(abc.ABC):
    """Funding rates and market statistics for one exchange."""

    name: str = ""

    @abc.abstractmethod
    async def fetch_funding_rates(self) -> dict[str, FundingRateSample]:
        """Canonical symbol -> sample (raw per-interval rate, interval hours, 8h-normalized)."""

    @abc.abstractmethod
    async def fetch_market_data(self) -> dict[str, MarketStats]:
        """Canonical symbol -> 24h volume and open interest, both USD."""

    @abc.abstractmethod
    def normalize_symbol(self, dex_symbol: str) -> str:
        """Exchange symbol -> canonical (``"BTCUSDT"`` -> ``"BTC"``)."""

    @abc.abstractmethod
    def dex_symbol(self, normalized_symbol: str) -> str:
        """Canonical -> exchange symbol."""

    async def close(self) -> None:
        return None


class RestFundingAdapter(FundingAdapter):
    """A :class:`FundingAdapter` over an exchange's public REST API, through :attr:`rest` (an
    instance of the subclass's :attr:`rest_class`, the exchange's ``rest.py``): ``settings`` (an
    :class:`ExchangeSettings` or just a REST base URL) gives ``rest_url``, else the live exchange;
    ``session`` is used as given (the caller closes it), else :meth:`close` closes the one created."""

    rest_class: type[RestClient]

    def __init__(self, settings: ExchangeSettings | str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings if isinstance(settings, ExchangeSettings) else ExchangeSettings(self.name, rest_url=settings)
        self.rest = self.rest_class(self.settings.rest_url, session=session)
        self.rest_url = self.rest.base_url

    async def close(self) -> None:
        await self.rest.close()
