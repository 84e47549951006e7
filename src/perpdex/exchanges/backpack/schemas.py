"""msgspec schemas of the Backpack payloads perpdex reads (docs/exchanges/backpack.md §2-§6).

Conventions on the wire: prices and quantities are decimal strings; REST timestamps are
milliseconds, WebSocket ``E``/``T`` and the depth snapshot ``timestamp`` are **microseconds**
(sometimes sent as strings); ``lastUpdateId`` is an int64 sent as a string (numbers accepted).
Decimal fields decode to :class:`~decimal.Decimal` (strings or numbers accepted); book levels
decode to floats for the hot path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec


def to_int(x: int | str | None, field: str = "value") -> int:
    """An int64 that may arrive as a JSON number or a string. Raises ValueError naming ``field``."""
    if x is None:
        raise ValueError(f"missing {field}")
    try:
        return int(x)
    except (TypeError, ValueError):
        raise ValueError(f"{field} is not an integer: {x!r}") from None


def levels(rows: list[tuple[str, str]], field: str) -> list[tuple[float, float]]:
    """``[["price", "qty"], ...]`` -> [(price, qty)] floats; ValueError naming ``field`` on junk
    (non-numeric, negative, NaN/inf)."""
    out = []
    for p, q in rows:
        try:
            pf, qf = float(p), float(q)
        except (TypeError, ValueError):
            raise ValueError(f"{field}: non-numeric level {[p, q]!r}") from None
        if not (pf == pf and qf == qf) or pf < 0 or qf < 0 or pf == float("inf") or qf == float("inf"):
            raise ValueError(f"{field}: invalid level {[p, q]!r}")
        out.append((pf, qf))
    return out


# -- public REST ---------------------------------------------------------------------------------------
class PriceFilter(msgspec.Struct):
    tickSize: Decimal
    minPrice: Decimal | None = None
    maxPrice: Decimal | None = None


class QuantityFilter(msgspec.Struct):
    stepSize: Decimal
    minQuantity: Decimal | None = None
    maxQuantity: Decimal | None = None


class LeverageFilter(msgspec.Struct):
    maxLeverage: Decimal | None = None
    minLeverage: Decimal | None = None


class Filters(msgspec.Struct):
    price: PriceFilter
    quantity: QuantityFilter
    leverage: LeverageFilter | None = None


class MarginFunction(msgspec.Struct):
    base: Decimal
    factor: Decimal | None = None
    type: str | None = None


class Market(msgspec.Struct):
    """One ``GET /api/v1/markets`` row. ``fundingInterval`` milliseconds (string or number);
    funding bounds in basis points."""

    symbol: str
    baseSymbol: str
    quoteSymbol: str
    marketType: str
    filters: Filters
    orderBookState: str = "Open"
    visible: bool = True
    fundingInterval: int | str | None = None
    fundingRateUpperBound: Decimal | None = None
    fundingRateLowerBound: Decimal | None = None
    imfFunction: MarginFunction | None = None
    mmfFunction: MarginFunction | None = None
    openInterestLimit: Decimal | None = None
    createdAt: str | None = None


class Depth(msgspec.Struct):
    """``GET /api/v1/depth``: levels as [price, qty] strings (both sides ascending on the wire);
    ``timestamp`` microseconds."""

    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    lastUpdateId: int | str
    timestamp: int | str | None = None


class Ticker(msgspec.Struct):
    """``GET /api/v1/ticker(s)``: ``volume`` base units, ``quoteVolume`` USDC per 24 h."""

    symbol: str
    lastPrice: Decimal | None = None
    volume: Decimal = Decimal(0)
    quoteVolume: Decimal = Decimal(0)
    firstPrice: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    priceChange: Decimal | None = None
    priceChangePercent: Decimal | None = None
    trades: int | str | None = None


class MarkPrice(msgspec.Struct):
    """``GET /api/v1/markPrices`` row: ``fundingRate`` fraction per interval,
    ``nextFundingTimestamp`` milliseconds."""

    symbol: str
    markPrice: Decimal
    indexPrice: Decimal | None = None
    fundingRate: Decimal | None = None
    nextFundingTimestamp: int | str | None = None


class OpenInterest(msgspec.Struct):
    """``GET /api/v1/openInterest`` row: ``openInterest`` in base units (contracts)."""

    symbol: str
    openInterest: Decimal | None = None
    timestamp: int | str | None = None


class FundingRateRow(msgspec.Struct):
    symbol: str
    fundingRate: Decimal
    intervalEndTimestamp: str


class ApiError(msgspec.Struct):
    """Error body ``{"code": "<ENUM>", "message": "..."}`` (§5.10)."""

    code: str | int
    message: str = ""


markets = msgspec.json.Decoder(list[Market])
depth = msgspec.json.Decoder(Depth)
tickers = msgspec.json.Decoder(list[Ticker])
mark_prices = msgspec.json.Decoder(list[MarkPrice])
open_interest = msgspec.json.Decoder(list[OpenInterest])
funding_rates = msgspec.json.Decoder(list[FundingRateRow])
api_error = msgspec.json.Decoder(ApiError)


# -- private REST (decoded from ccxt's implicit-API dicts with msgspec.convert) ------------------------
class Position(msgspec.Struct):
    """``GET /api/v1/position`` row: ``netQuantity`` signed base units (+ long); prices USD;
    ``netExposureQuantity`` includes risk-increasing open orders (not the position)."""

    symbol: str
    netQuantity: Decimal
    entryPrice: Decimal = Decimal(0)
    markPrice: Decimal | None = None
    pnlUnrealized: Decimal = Decimal(0)
    pnlRealized: Decimal = Decimal(0)
    estLiquidationPrice: Decimal | None = None
    imf: Decimal | None = None
    mmf: Decimal | None = None
    netCost: Decimal | None = None
    netExposureQuantity: Decimal | None = None
    cumulativeFundingPayment: Decimal | None = None
    positionId: str | int | None = None


class Collateral(msgspec.Struct):
    """``GET /api/v1/capital/collateral``: ``netEquityAvailable`` USD is what new positions can use."""

    netEquity: Decimal
    netEquityAvailable: Decimal
    netEquityLocked: Decimal = Decimal(0)
    pnlUnrealized: Decimal = Decimal(0)
    imf: Decimal | None = None
    mmf: Decimal | None = None


class Account(msgspec.Struct):
    """``GET /api/v1/account``: ``leverageLimit`` account-wide (x); fees in **basis points**."""

    leverageLimit: Decimal | None = None
    futuresMakerFee: Decimal | None = None
    futuresTakerFee: Decimal | None = None


class FundingPaymentRow(msgspec.Struct):
    """``GET /wapi/v1/history/funding`` row: ``quantity`` USDC (+ received, - paid),
    ``fundingRate`` per interval, ``intervalEndTimestamp`` naive ISO UTC."""

    symbol: str
    quantity: Decimal
    intervalEndTimestamp: str
    fundingRate: Decimal | None = None


# -- WebSocket -----------------------------------------------------------------------------------------
class Envelope(msgspec.Struct):
    """Every data frame: ``{"stream": "<name>", "data": {...}}``; error frames carry ``error``."""

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"")  # empty when absent
    error: dict[str, Any] | None = None
    id: int | str | None = None


class DepthEvent(msgspec.Struct):
    """``depth.<symbol>``: absolute quantities (0 deletes); ``U`` first / ``u`` last update id;
    ``E``/``T`` microseconds."""

    e: str
    s: str
    U: int | str
    u: int | str
    a: list[tuple[str, str]] = []
    b: list[tuple[str, str]] = []
    E: int | str | None = None
    T: int | str | None = None


class BookTickerEvent(msgspec.Struct):
    """``bookTicker.<symbol>``: best bid ``b``/``B`` and ask ``a``/``A`` (price/qty strings)."""

    e: str
    s: str
    a: str
    A: str
    b: str
    B: str
    u: int | str | None = None
    E: int | str | None = None
    T: int | str | None = None


class MarkPriceEvent(msgspec.Struct):
    """``markPrice.<symbol>``: ``p`` mark, ``i`` index, ``f`` funding per interval, ``n`` next
    funding time in **milliseconds**."""

    e: str
    s: str
    p: str
    f: str | None = None
    i: str | None = None
    n: int | str | None = None
    E: int | str | None = None


class OrderUpdateEvent(msgspec.Struct):
    """``account.orderUpdate`` (§6.2): ``e`` orderAccepted | orderFill | orderCancelled |
    orderExpired | orderModified | triggerPlaced | triggerFailed; ``i`` order id, ``c`` client id
    (uint32), ``S`` Bid | Ask, ``q`` quantity, ``z`` cumulative filled (base), ``Z`` cumulative
    filled quote, ``X`` status; on fills ``t`` trade id, ``l``/``L`` fill qty/price, ``m``
    maker, ``n`` fee in ``N``; ``O`` origin (USER, LIQUIDATION_AUTOCLOSE, ADL_AUTOCLOSE, ...);
    ``E``/``T`` microseconds (numbers or strings)."""

    e: str
    s: str
    i: str
    S: str
    X: str
    q: Decimal = Decimal(0)
    p: Decimal | None = None
    z: Decimal = Decimal(0)
    Z: Decimal = Decimal(0)
    c: int | None = None
    t: int | None = None
    l: Decimal = Decimal(0)  # noqa: E741 - the protocol's field name
    L: Decimal = Decimal(0)
    m: bool = False
    n: Decimal = Decimal(0)
    N: str | None = None
    O: str = "USER"  # noqa: E741 - the protocol's field name
    R: str | None = None
    E: int | str | None = None
    T: int | str | None = None


class PositionUpdateEvent(msgspec.Struct):
    """``account.positionUpdate`` (§6.3): ``q`` signed net quantity, ``B`` entry price, ``M`` mark,
    ``P`` unrealized PnL, ``l`` estimated liquidation price (``"0"`` placeholder since 2025-09);
    ``e`` absent on the snapshot sent at subscribe."""

    s: str
    q: Decimal
    e: str | None = None
    B: Decimal = Decimal(0)
    M: Decimal | None = None
    P: Decimal | None = None
    l: Decimal | None = None  # noqa: E741 - the protocol's field name
    E: int | str | None = None


class FillRow(msgspec.Struct):
    """One row of ``GET /wapi/v1/history/fills`` (§5.9): ``tradeId``, ``orderId``, ``side`` Bid |
    Ask, ``quantity`` base, ``price`` quote, ``fee`` in ``feeSymbol``, ``isMaker``,
    ``systemOrderType`` set for liquidation / ADL fills, ``timestamp`` ISO-8601 (UTC)."""

    tradeId: int
    orderId: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    timestamp: str
    fee: Decimal = Decimal(0)
    feeSymbol: str | None = None
    isMaker: bool = False
    clientId: int | None = None
    systemOrderType: str | None = None


envelope = msgspec.json.Decoder(Envelope)
order_update_event = msgspec.json.Decoder(OrderUpdateEvent, strict=False)
position_update_event = msgspec.json.Decoder(PositionUpdateEvent, strict=False)
depth_event = msgspec.json.Decoder(DepthEvent)
book_ticker_event = msgspec.json.Decoder(BookTickerEvent)
mark_price_event = msgspec.json.Decoder(MarkPriceEvent)
