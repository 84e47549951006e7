"""Paradex wire payloads: msgspec structs for the JSON REST/WebSocket bodies and a decoder of the
SBE binary frames of the public channels (the emulator's encoder: ``perpdex.sim.venues.paradex.sbe``).

Sources: docs/exchanges/paradex.md §2–§6 (docs.paradex.trade; paradex-py 0.8.2 schema; ccxt
4.5.90 samples). Units, per field: prices USD, sizes base units, ``volume_24h`` USD,
``open_interest`` **base units**, ``funding_rate`` a fraction per the market's own
``funding_period_hours`` (not 8 h, not annualised), timestamps **ms** in JSON and **µs** in SBE.
Decimal fields that Paradex may send as ``""`` are typed ``str`` and read with :func:`dec`.

SBE (§4.4): 8-byte little-endian header (blockLength, templateId, schemaId = 1, version), a fixed
block, repeating groups (u16 blockLength, u16 numInGroup), then u8-length-prefixed strings.
Decimals are int64 mantissas × 10^-8, INT64_MIN = null. Templates decoded here: 1 Trade, 2 Bbo,
3 Book, 4 MarketSummary, 5 FundingData; others raise :class:`SbeError` (unknown template).
"""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

import msgspec

ZERO = Decimal(0)
INT64_MIN = -(1 << 63)
SCALE = Decimal("1e-8")
SCHEMA_ID = 1


def dec(value: Any, default: Decimal | None = None) -> Decimal | None:
    """``"1.5"``/``1.5`` -> Decimal; ``""``/None/garbage -> ``default``."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return default


# --------------------------------------------------------------------------------------------------
# JSON: REST
# --------------------------------------------------------------------------------------------------
class MarginParams(msgspec.Struct, kw_only=True):
    imf_base: Decimal = ZERO  # initial margin fraction: max leverage = 1 / imf_base
    mmf_factor: Decimal = ZERO


class Market(msgspec.Struct, kw_only=True):
    """``GET /v1/markets`` row (§2.1). ``price_tick_size`` USD, ``order_size_increment`` and
    ``max_order_size`` base units, ``min_notional`` USD, ``funding_period_hours`` hours (number or
    string on the wire; 0/absent -> 8), ``open_at``/``expiry_at`` ms."""

    symbol: str
    base_currency: str = ""
    quote_currency: str = "USD"
    settlement_currency: str = "USDC"
    asset_kind: str = "PERP"
    order_size_increment: Decimal = ZERO
    price_tick_size: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_order_size: Decimal = ZERO
    position_limit: Decimal = ZERO
    open_at: int = 0
    expiry_at: int = 0
    funding_period_hours: Decimal = Decimal(8)
    max_funding_rate: str = ""
    delta1_cross_margin_params: MarginParams | None = None


class MarketsResponse(msgspec.Struct, kw_only=True):
    results: list[Market] = []


class MarketSummary(msgspec.Struct, kw_only=True):
    """``GET /v1/markets/summary`` row / ``markets_summary`` push (§3.3). ``funding_rate``: raw
    fraction per the market's funding period; ``volume_24h`` USD; ``open_interest`` base units."""

    symbol: str
    mark_price: str = ""
    underlying_price: str = ""
    oracle_price: str = ""
    last_traded_price: str = ""
    bid: str = ""
    ask: str = ""
    volume_24h: str = ""
    total_volume: str = ""
    open_interest: str = ""
    funding_rate: str = ""
    price_change_rate_24h: str = ""
    created_at: int = 0


class SummaryResponse(msgspec.Struct, kw_only=True):
    results: list[MarketSummary] = []


class RestOrderBook(msgspec.Struct, kw_only=True):
    """``GET /v1/orderbook/{market}`` (§3.1): ``[price, size]`` string pairs, ``seq_no``."""

    market: str = ""
    seq_no: int = 0
    last_updated_at: int = 0
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []


class FundingData(msgspec.Struct, kw_only=True):
    """``/v1/funding/data`` row or ``funding_data`` push (§3.4): ``funding_rate`` per the market's
    period, ``funding_rate_8h`` normalised (may be ``""``), ``funding_period_hours`` (0 on old
    rows), ``funding_index`` / ``funding_premium`` USDC per unit, ``created_at`` ms."""

    market: str
    funding_rate: str = ""
    funding_rate_8h: str = ""
    funding_period_hours: Decimal = ZERO
    funding_index: str = ""
    funding_premium: str = ""
    created_at: int = 0


class FundingDataResponse(msgspec.Struct, kw_only=True):
    next: str | None = None
    prev: str | None = None
    results: list[FundingData] = []


class ErrorBody(msgspec.Struct, kw_only=True):
    """REST error (§5.10): ``{"error": "<CODE>", "message": "..."}``."""

    error: str = ""
    message: str = ""


# --------------------------------------------------------------------------------------------------
# JSON: WebSocket
# --------------------------------------------------------------------------------------------------
class BookLevel(msgspec.Struct, kw_only=True):
    side: str  # BUY | SELL
    price: Decimal
    size: Decimal = ZERO


class BookData(msgspec.Struct, kw_only=True):
    """``order_book.*`` payload (§4.3): ``update_type`` "s" snapshot | "d" delta."""

    market: str
    seq_no: int
    update_type: str = "s"
    last_updated_at: int = 0
    inserts: list[BookLevel] = []
    updates: list[BookLevel] = []
    deletes: list[BookLevel] = []


class BboData(msgspec.Struct, kw_only=True):
    """``bbo.{market}`` payload: prices USD, sizes base units (empty string = no level)."""

    market: str
    bid: str = ""
    bid_size: str = ""
    ask: str = ""
    ask_size: str = ""
    last_updated_at: int = 0
    seq_no: int = 0


class RpcError(msgspec.Struct, kw_only=True):
    code: int = 0
    message: str = ""
    data: Any = None


class WsParams(msgspec.Struct, kw_only=True):
    channel: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


class WsMessage(msgspec.Struct, kw_only=True):
    """Any JSON-RPC frame: a ``subscription`` push, a result, or an error."""

    jsonrpc: str = "2.0"
    method: str | None = None
    params: WsParams | None = None
    result: Any = None
    error: RpcError | None = None
    id: int | str | None = None


class OrderPush(msgspec.Struct, kw_only=True):
    """An order of ours (``orders.*`` channel, §6; REST order objects, §5.5): ``size`` /
    ``remaining_size`` base units, ``price``/``avg_fill_price`` quote (``""`` when none),
    ``status`` NEW | OPEN | UNTRIGGERED | CLOSED (with ``cancel_reason`` when not filled),
    times ms."""

    id: str
    market: str
    side: str
    size: Decimal
    status: str
    remaining_size: Decimal | None = None
    price: str = ""
    avg_fill_price: str = ""
    client_id: str = ""
    cancel_reason: str = ""
    last_updated_at: int = 0


class FillPush(msgspec.Struct, kw_only=True):
    """A fill of ours (``fills.*`` channel, ``GET /v1/fills``, §5.9): ``id`` fill id, ``size``
    base, ``price`` quote, ``fee`` in ``fee_currency`` (USDC), ``liquidity`` MAKER | TAKER,
    ``fill_type`` FILL | LIQUIDATION | ..., ``created_at`` ms."""

    id: str
    market: str
    order_id: str
    side: str
    size: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str = "USDC"
    liquidity: str = "TAKER"
    created_at: int = 0
    client_id: str = ""
    fill_type: str = "FILL"


class PositionPush(msgspec.Struct, kw_only=True):
    """Our position (``positions`` channel, §6; ``GET /v1/positions``): ``size`` signed base
    units, ``average_entry_price`` quote, ``liquidation_price`` quote or ``""``, ``status``
    OPEN | CLOSED."""

    market: str
    size: Decimal
    average_entry_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    liquidation_price: str = ""
    status: str = "OPEN"
    last_updated_at: int = 0


markets_decoder = msgspec.json.Decoder(MarketsResponse, strict=False)
summary_decoder = msgspec.json.Decoder(SummaryResponse, strict=False)
orderbook_decoder = msgspec.json.Decoder(RestOrderBook, strict=False)
funding_data_decoder = msgspec.json.Decoder(FundingDataResponse, strict=False)
error_decoder = msgspec.json.Decoder(ErrorBody, strict=False)
ws_decoder = msgspec.json.Decoder(WsMessage, strict=False)
book_data_decoder = msgspec.json.Decoder(BookData, strict=False)
bbo_data_decoder = msgspec.json.Decoder(BboData, strict=False)
funding_push_decoder = msgspec.json.Decoder(FundingData, strict=False)
order_push_decoder = msgspec.json.Decoder(OrderPush, strict=False)
fill_push_decoder = msgspec.json.Decoder(FillPush, strict=False)
position_push_decoder = msgspec.json.Decoder(PositionPush, strict=False)


# --------------------------------------------------------------------------------------------------
# SBE
# --------------------------------------------------------------------------------------------------
class SbeError(ValueError):
    """A binary frame that is truncated, of another schema, or of an unknown template."""


TEMPLATE_TRADE, TEMPLATE_BBO, TEMPLATE_BOOK, TEMPLATE_SUMMARY, TEMPLATE_FUNDING = 1, 2, 3, 4, 5
_HEADER = struct.Struct("<HHHH")
_I64 = struct.Struct("<q")
_GROUP = struct.Struct("<HH")
_LEVEL = struct.Struct("<qq")


class SbeBook(msgspec.Struct):
    """BookEvent (template 3): ``pkg_type`` 0 snapshot / 1 delta; levels (price, size) floats,
    size 0 = remove; ``ts_us`` µs."""

    market: str
    seq: int
    pkg_type: int
    ts_us: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


class SbeBbo(msgspec.Struct):
    """BboEvent (template 2): prices USD, sizes base units, None = empty side."""

    market: str
    seq: int
    ts_us: int
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None


class SbeFunding(msgspec.Struct):
    """FundingDataEvent (template 5): rates are fractions (``funding_rate`` per period)."""

    market: str
    seq: int
    ts_us: int
    funding_rate: Decimal | None
    funding_index: Decimal | None
    created_us: int
    funding_premium: Decimal | None
    funding_rate_8h: Decimal | None
    funding_period_hours: int


def funding_row(msg: SbeFunding) -> FundingData:
    """An SBE FundingDataEvent as the JSON ``funding_data`` row it mirrors (decimal strings,
    ``created_at`` ms), so both encodings take the same normalization path."""
    def s(v: Decimal | None) -> str:
        return "" if v is None else str(v)

    return FundingData(market=msg.market, funding_rate=s(msg.funding_rate), funding_rate_8h=s(msg.funding_rate_8h),
                       funding_period_hours=Decimal(msg.funding_period_hours), funding_index=s(msg.funding_index),
                       funding_premium=s(msg.funding_premium), created_at=msg.created_us // 1000)


class SbeSummary(msgspec.Struct):
    """MarketSummaryEvent (template 4): ``volume_24h`` USD, ``open_interest`` base units."""

    market: str
    seq: int
    ts_us: int
    mark_price: Decimal | None
    index_price: Decimal | None
    last_price: Decimal | None
    volume_24h: Decimal | None
    open_interest: Decimal | None
    funding_rate: Decimal | None
    bid: Decimal | None
    ask: Decimal | None


class SbeTrade(msgspec.Struct):
    market: str
    seq: int
    side: str
    price: Decimal | None
    size: Decimal | None
    created_us: int
    trade_id: str


SbeMessage = SbeBook | SbeBbo | SbeFunding | SbeSummary | SbeTrade


def _i64(buf: bytes, off: int) -> int:
    return _I64.unpack_from(buf, off)[0]


def _dec_at(buf: bytes, off: int) -> Decimal | None:
    v = _i64(buf, off)
    return None if v == INT64_MIN else Decimal(v) * SCALE


def _strings(buf: bytes, pos: int, count: int) -> list[str]:
    out = []
    for _ in range(count):
        if pos >= len(buf):
            break
        n = buf[pos]
        end = pos + 1 + n
        if end > len(buf):
            raise SbeError("string runs past the end of the frame")
        out.append(buf[pos + 1:end].decode("utf-8"))
        pos = end
    return out


def decode_sbe(frame: bytes) -> SbeMessage:
    """Decode one binary frame; raises :class:`SbeError` on a truncated/foreign/unknown frame."""
    if len(frame) < 8:
        raise SbeError("frame shorter than the SBE header")
    block, template, schema, _version = _HEADER.unpack_from(frame, 0)
    if schema != SCHEMA_ID:
        raise SbeError(f"schema id {schema} is not Paradex's ({SCHEMA_ID})")
    if len(frame) < 8 + block:
        raise SbeError("frame shorter than its fixed block")
    b = 8  # block start
    try:
        if template == TEMPLATE_BOOK:
            if block < 17:
                raise SbeError("book block too short")
            pos = b + block
            sides: list[list[tuple[float, float]]] = []
            for _ in range(2):
                if pos + 4 > len(frame):
                    raise SbeError("book group header missing")
                entry, num = _GROUP.unpack_from(frame, pos)
                pos += 4
                if entry < 16 or pos + entry * num > len(frame):
                    raise SbeError("book group truncated")
                lv = []
                for i in range(num):
                    p, s = _LEVEL.unpack_from(frame, pos + i * entry)
                    lv.append((p / 1e8, s / 1e8))
                pos += entry * num
                sides.append(lv)
            names = _strings(frame, pos, 1)
            if not names:
                raise SbeError("book frame without market")
            return SbeBook(names[0], _i64(frame, b + 8), frame[b + 16], _i64(frame, b), sides[0], sides[1])
        if template == TEMPLATE_BBO:
            if block < 48:
                raise SbeError("bbo block too short")
            names = _strings(frame, b + block, 1)
            if not names:
                raise SbeError("bbo frame without market")
            return SbeBbo(names[0], _i64(frame, b + 8), _i64(frame, b), _dec_at(frame, b + 16), _dec_at(frame, b + 24),
                          _dec_at(frame, b + 32), _dec_at(frame, b + 40))
        if template == TEMPLATE_FUNDING:
            if block < 58:
                raise SbeError("funding block too short")
            names = _strings(frame, b + block, 1)
            if not names:
                raise SbeError("funding frame without market")
            return SbeFunding(names[0], _i64(frame, b + 8), _i64(frame, b), _dec_at(frame, b + 16), _dec_at(frame, b + 24),
                              _i64(frame, b + 32), _dec_at(frame, b + 40), _dec_at(frame, b + 48),
                              struct.unpack_from("<H", frame, b + 56)[0])
        if template == TEMPLATE_SUMMARY:
            if block < 96:
                raise SbeError("summary block too short")
            names = _strings(frame, b + block, 1)
            if not names:
                raise SbeError("summary frame without market")
            return SbeSummary(names[0], _i64(frame, b + 8), _i64(frame, b), _dec_at(frame, b + 16), _dec_at(frame, b + 24),
                              _dec_at(frame, b + 32), _dec_at(frame, b + 40), _dec_at(frame, b + 48), _dec_at(frame, b + 56),
                              _dec_at(frame, b + 64), _dec_at(frame, b + 72))
        if template == TEMPLATE_TRADE:
            if block < 50:
                raise SbeError("trade block too short")
            names = _strings(frame, b + block, 2)
            if not names:
                raise SbeError("trade frame without market")
            side = {1: "BUY", 2: "SELL"}.get(frame[b + 24], "")
            return SbeTrade(names[0], _i64(frame, b + 8), side, _dec_at(frame, b + 25), _dec_at(frame, b + 33),
                            _i64(frame, b + 41), names[1] if len(names) > 1 else str(_i64(frame, b + 16)))
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise SbeError(f"malformed template {template} frame: {exc}") from None
    raise SbeError(f"unknown SBE template {template}")
