"""msgspec structs for every Aster payload perpdex decodes (REST and WebSocket).

Aster returns numbers sometimes as JSON numbers and sometimes as strings (live V3 rows carry
``"pricePrecision": "2"``, ``"time": "1776411276072"``; docs/exchanges/aster.md §2.2, §3.3), so
every decoder here runs in msgspec's lax mode (``strict=False``): ``"7403.89"`` decodes into a
``float`` or ``Decimal`` field, ``"2"`` into an ``int`` field. Unknown fields are ignored; a
missing required field or a wrong type raises :class:`msgspec.ValidationError` naming the field.

Units: prices quote (USDT), quantities base units of the exchange symbol (bundle units for
``1000…`` markets), rates fractions per the symbol's funding interval, times epoch milliseconds.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec


# -- REST: catalog ---------------------------------------------------------------------------------
class SymbolFilter(msgspec.Struct):
    """One entry of ``exchangeInfo.symbols[].filters``; which fields are set depends on
    ``filterType`` (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, ...)."""

    filterType: str
    tickSize: Decimal | None = None
    minPrice: Decimal | None = None
    maxPrice: Decimal | None = None
    stepSize: Decimal | None = None
    minQty: Decimal | None = None
    maxQty: Decimal | None = None
    notional: Decimal | None = None  # MIN_NOTIONAL as documented
    minNotional: Decimal | None = None  # MIN_NOTIONAL as observed live
    limit: int | None = None


class SymbolInfo(msgspec.Struct):
    """One row of ``GET /fapi/v3/exchangeInfo`` ``symbols``. ``contractType`` is absent on spot
    rows; ``status`` is TRADING for live markets."""

    symbol: str
    status: str = ""
    baseAsset: str | None = None
    quoteAsset: str = ""
    marginAsset: str = ""
    contractType: str | None = None
    pricePrecision: int | None = None
    quantityPrecision: int | None = None
    filters: list[SymbolFilter] = []

    def filter(self, kind: str) -> SymbolFilter | None:
        for f in self.filters:
            if f.filterType == kind:
                return f
        return None


class ExchangeInfo(msgspec.Struct):
    symbols: list[SymbolInfo] = []
    serverTime: int | None = None


# -- REST: market data ------------------------------------------------------------------------------
class Depth(msgspec.Struct):
    """``GET /fapi/v3/depth``: levels ``[price, qty]``; ``lastUpdateId`` joins the diff stream."""

    lastUpdateId: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    E: int | None = None
    T: int | None = None


class BookTickerRest(msgspec.Struct):
    """``GET /fapi/v3/ticker/bookTicker`` row; an empty side is price ``"0.000000"``, qty ``"0.0"``."""

    symbol: str
    bidPrice: float
    bidQty: float
    askPrice: float
    askQty: float
    time: int | None = None
    lastUpdateId: int | None = None


class PremiumIndex(msgspec.Struct):
    """``GET /fapi/v3/premiumIndex`` row: ``lastFundingRate`` per the symbol's interval,
    ``nextFundingTime`` epoch ms, prices quote units."""

    symbol: str
    markPrice: Decimal
    lastFundingRate: Decimal
    nextFundingTime: int
    indexPrice: Decimal | None = None
    interestRate: Decimal | None = None
    time: int | None = None


class FundingInfo(msgspec.Struct):
    """``GET /fapi/v3/fundingInfo`` row: interval hours (int), cap/floor fractions per interval."""

    symbol: str
    fundingIntervalHours: Decimal
    fundingFeeCap: Decimal | None = None
    fundingFeeFloor: Decimal | None = None
    interestRate: Decimal | None = None
    time: int | None = None


class FundingRateRow(msgspec.Struct):
    """``GET /fapi/v3/fundingRate`` history row: settled rate per the symbol's interval,
    ``fundingTime`` epoch ms; ``markPrice`` (quote units) on newer rows only (Binance-compatible
    field, absent from Aster's documented sample)."""

    symbol: str
    fundingRate: Decimal
    fundingTime: int
    markPrice: Decimal | None = None


class Ticker24h(msgspec.Struct):
    """``GET /fapi/v3/ticker/24hr`` row: ``volume`` base units, ``quoteVolume`` USDT, rolling 24 h."""

    symbol: str
    volume: Decimal = Decimal(0)
    quoteVolume: Decimal = Decimal(0)
    lastPrice: Decimal | None = None


class OpenInterest(msgspec.Struct):
    """``GET /fapi/v1/openInterest``: open interest in **base units** (Binance-compatible)."""

    symbol: str
    openInterest: Decimal
    time: int | None = None


class Bracket(msgspec.Struct):
    bracket: int
    initialLeverage: int
    notionalCap: Decimal = Decimal(0)
    notionalFloor: Decimal = Decimal(0)
    maintMarginRatio: Decimal = Decimal(0)


class LeverageBracket(msgspec.Struct):
    """``GET /fapi/v3/leverageBracket`` row; max leverage = ``brackets[0].initialLeverage``."""

    symbol: str
    brackets: list[Bracket]


class ErrorBody(msgspec.Struct):
    """``{"code": -1121, "msg": "Invalid symbol."}`` (code may be an int or a string)."""

    code: int
    msg: str = ""


# -- WebSocket: market streams ----------------------------------------------------------------------
class DepthUpdate(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    """``depthUpdate`` (partial ``@depth<N>`` snapshots and ``@depth`` diffs share it).
    ``U`` first / ``u`` final update id, ``pu`` = previous event's ``u`` on the diff stream;
    levels ``[price, qty]`` (quote units, base units) are absolute sizes, 0 deletes, decoded
    straight to float pairs.

    The market-stream structs are ``gc=False`` (hot path, see benchmarks/bench_feeds.py): decoded
    JSON never forms reference cycles, so the garbage collector need not track them."""

    s: str
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]
    U: int = 0
    pu: int = 0
    E: int = 0
    T: int = 0


class BookTickerEvent(msgspec.Struct, tag_field="e", tag="bookTicker", gc=False):
    """``bookTicker``: best bid ``b``/``B`` and ask ``a``/``A`` (price/qty), ``u`` update id."""

    s: str
    b: float
    B: float
    a: float
    A: float
    u: int = 0
    E: int = 0
    T: int = 0


class MarkPriceUpdate(msgspec.Struct, tag_field="e", tag="markPriceUpdate", gc=False):
    """``markPriceUpdate``: mark ``p``, index ``i``, funding rate ``r`` per interval, next
    funding time ``T`` (ms)."""

    s: str
    p: Decimal
    r: Decimal
    T: int
    i: Decimal | None = None
    E: int = 0


class PartialDepthUpdate(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    """A partial ``@depth<N>`` snapshot (the same ``depthUpdate`` frame as :class:`DepthUpdate`)
    with its level arrays ``b``/``a`` kept as raw JSON: every such frame replaces the book, most are
    replaced before anybody reads them, so the levels are decoded (:func:`decode_levels`) only when
    the book is read (see ``SnapshotBook``)."""

    s: str
    u: int
    b: msgspec.Raw
    a: msgspec.Raw
    U: int = 0
    pu: int = 0
    E: int = 0
    T: int = 0


MarketEvent = DepthUpdate | BookTickerEvent | MarkPriceUpdate
PartialDepthMarketEvent = PartialDepthUpdate | BookTickerEvent | MarkPriceUpdate


class _Envelope(msgspec.Struct, gc=False):
    stream: str | None = None
    result: Any = None
    id: int | None = None
    error: Any = None
    code: int | None = None
    msg: str | None = None


class StreamEnvelope(_Envelope, gc=False):
    """A combined-stream frame ``{"stream": ..., "data": ...}`` or a control reply
    (``{"result": null, "id": 1}``; errors ``{"error": {...}, "id": 1}`` or ``{"code": 2, "msg": ...}``)."""

    data: MarketEvent | None = None


class PartialDepthEnvelope(_Envelope, gc=False):
    """:class:`StreamEnvelope` for a connection on partial depth: depth frames decode to
    :class:`PartialDepthUpdate` (levels left raw)."""

    data: PartialDepthMarketEvent | None = None


decode_levels = msgspec.json.Decoder(list[tuple[float, float]], strict=False).decode
"""Raw JSON ``[["price", "qty"], ...]`` -> float ``(price, qty)`` pairs (lax: numeric strings)."""

_FIRST_PRICE = re.compile(rb'\[\s*\[\s*"?([^",\s\]]+)')
_EMPTY = re.compile(rb"\s*\[\s*\]\s*")


def first_price(levels: msgspec.Raw) -> float | None:
    """The first level's price of a raw level array (Aster sends the best level first); None for
    an empty array. Raises :class:`msgspec.ValidationError` (as a full decode would) when the
    array does not start with a ``[price, qty]`` pair whose price is a number."""
    m = _FIRST_PRICE.match(levels)
    if m is None:
        if _EMPTY.fullmatch(levels):
            return None
        raise msgspec.ValidationError("depth levels are not an array of [price, qty] pairs")
    try:
        return float(m.group(1))
    except ValueError:
        raise msgspec.ValidationError(f"depth level price {m.group(1)[:32]!r} is not a number") from None


# -- WebSocket: user data stream ---------------------------------------------------------------------
class OrderUpdate(msgspec.Struct):
    """``ORDER_TRADE_UPDATE.o``: ``x`` execution type (TRADE = a fill), ``X`` status, ``l``/``L``
    last fill qty/price, ``z`` cumulative filled, ``n`` commission, ``R`` reduce-only."""

    s: str
    i: int
    S: str
    o: str
    X: str
    x: str
    q: Decimal
    p: Decimal = Decimal(0)
    ap: Decimal = Decimal(0)
    l: Decimal = Decimal(0)  # noqa: E741 - the protocol's field name
    L: Decimal = Decimal(0)
    z: Decimal = Decimal(0)
    n: Decimal = Decimal(0)
    N: str | None = None
    c: str = ""
    f: str = ""
    t: int = 0
    T: int = 0
    m: bool = False
    R: bool = False
    rp: Decimal = Decimal(0)
    ps: str = "BOTH"


class OrderTradeUpdate(msgspec.Struct, tag_field="e", tag="ORDER_TRADE_UPDATE"):
    o: OrderUpdate
    E: int = 0
    T: int = 0


class BalanceRow(msgspec.Struct):
    a: str
    wb: Decimal
    cw: Decimal = Decimal(0)
    bc: Decimal = Decimal(0)


class PositionRow(msgspec.Struct):
    s: str
    pa: Decimal
    ep: Decimal = Decimal(0)
    up: Decimal = Decimal(0)
    cr: Decimal = Decimal(0)
    mt: str = "cross"
    iw: Decimal = Decimal(0)
    ps: str = "BOTH"


class AccountData(msgspec.Struct):
    m: str
    B: list[BalanceRow] = []
    P: list[PositionRow] = []


class AccountUpdate(msgspec.Struct, tag_field="e", tag="ACCOUNT_UPDATE"):
    """``ACCOUNT_UPDATE``: reason ``a.m`` (ORDER, FUNDING_FEE, ...), balances, positions."""

    a: AccountData
    E: int = 0
    T: int = 0


class ListenKeyExpired(msgspec.Struct, tag_field="e", tag="listenKeyExpired"):
    E: int = 0


UserEvent = OrderTradeUpdate | AccountUpdate | ListenKeyExpired


class UserTrade(msgspec.Struct):
    """One row of ``GET /fapi/v3/userTrades`` (our fills): ``id`` trade id (the stream's ``t``),
    ``qty`` base units, ``price`` quote, ``commission`` in ``commissionAsset`` (Binance-style
    rows show a fee paid as a negative number), ``time`` ms."""

    symbol: str
    id: int
    orderId: int
    side: str
    price: Decimal
    qty: Decimal
    time: int
    commission: Decimal = Decimal(0)
    commissionAsset: str = ""
    maker: bool = False
    realizedPnl: Decimal = Decimal(0)


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode(typ: Any, data: bytes | str) -> Any:
    """Decode ``data`` as ``typ`` in lax mode (decoder built once per type); raises
    :class:`msgspec.ValidationError` / :class:`msgspec.DecodeError` naming the bad field."""
    dec = _DECODERS.get(typ)
    if dec is None:
        dec = _DECODERS[typ] = msgspec.json.Decoder(typ, strict=False)
    return dec.decode(data)
