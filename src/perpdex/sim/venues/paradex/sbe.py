"""SBE encoder of the public Paradex channels, the emulator's side of
:func:`perpdex.exchanges.paradex.schemas.decode_sbe` (docs/exchanges/paradex.md §4.4): the same
8-byte header, fixed blocks, repeating groups and u8-length-prefixed strings; decimals as int64
mantissas x 10^-8, INT64_MIN = null."""

from __future__ import annotations

import struct
from decimal import Decimal

from ....exchanges.paradex.schemas import (
    _GROUP,
    _HEADER,
    _LEVEL,
    INT64_MIN,
    SCALE,
    SCHEMA_ID,
    TEMPLATE_BBO,
    TEMPLATE_BOOK,
    TEMPLATE_FUNDING,
    TEMPLATE_SUMMARY,
    TEMPLATE_TRADE,
)

#: the schema versions a subscriber may ask for (``sbeSchemaVersion``)
SBE_VERSIONS = (0, 1, 2, 3)


def _m(x: float | Decimal | None) -> int:
    """Value -> int64 mantissa × 10^-8 (None -> null)."""
    if x is None:
        return INT64_MIN
    return int((Decimal(str(x)) / SCALE).to_integral_value())


def _str(s: str) -> bytes:
    raw = s.encode()
    return bytes([len(raw)]) + raw


def encode_book(market: str, seq: int, pkg_type: int, ts_us: int, bids: list[tuple[float, float]],
                asks: list[tuple[float, float]], version: int = 3) -> bytes:
    """BookEvent (template 3, 89-byte block) with best levels filled from ``bids``/``asks``."""
    bb = bids[0] if bids else (None, None)
    ba = asks[0] if asks else (None, None)
    spread = None
    if bids and asks and bb[0]:
        spread = (ba[0] - bb[0]) / bb[0]  # type: ignore[operator]  # both sides are levels here (bids and asks)
    block = struct.pack("<qqB", ts_us, seq, pkg_type) + struct.pack(
        "<qqqqqqqqq", _m(bb[0]), _m(bb[1]), _m(ba[0]), _m(ba[1]), _m(spread), _m(bb[0]), _m(bb[1]), _m(ba[0]), _m(ba[1]))
    out = [_HEADER.pack(len(block), TEMPLATE_BOOK, SCHEMA_ID, version), block]
    for side in (bids, asks):
        out.append(_GROUP.pack(16, len(side)))
        out.extend(_LEVEL.pack(_m(p), _m(s)) for p, s in side)
    out.append(_str(market))
    return b"".join(out)


def encode_bbo(market: str, seq: int, ts_us: int, bid: tuple[float, float] | None, ask: tuple[float, float] | None,
               version: int = 3) -> bytes:
    """BboEvent (template 2, 48-byte block)."""
    block = struct.pack("<qqqqqq", ts_us, seq, _m(bid[0] if bid else None), _m(bid[1] if bid else None),
                        _m(ask[0] if ask else None), _m(ask[1] if ask else None))
    return _HEADER.pack(len(block), TEMPLATE_BBO, SCHEMA_ID, version) + block + _str(market)


def encode_funding(market: str, seq: int, ts_us: int, rate: float, index: float, premium: float, rate_8h: float,
                   period_hours: int, version: int = 3) -> bytes:
    """FundingDataEvent (template 5, 66-byte block; impactPremiumRate null)."""
    block = struct.pack("<qqqqqqqHq", ts_us, seq, _m(rate), _m(index), ts_us, _m(premium), _m(rate_8h), period_hours,
                        INT64_MIN)
    return _HEADER.pack(len(block), TEMPLATE_FUNDING, SCHEMA_ID, version) + block + _str(market)


def encode_summary(market: str, seq: int, ts_us: int, *, mark: float, index: float, last: float, volume_24h: float,
                   open_interest: float, funding_rate: float, bid: float | None, ask: float | None, total_volume: float,
                   version: int = 3) -> bytes:
    """MarketSummaryEvent (template 4; 248-byte block in v3, 240 before; unlisted fields null)."""
    head = struct.pack("<qq", ts_us, seq) + b"".join(struct.pack("<q", _m(v)) for v in (
        mark, index, last, volume_24h, open_interest, funding_rate, bid, ask, total_volume, 0))
    size = 248 if version >= 3 else 240
    block = head + struct.pack("<q", INT64_MIN) * ((size - len(head)) // 8)
    return _HEADER.pack(len(block), TEMPLATE_SUMMARY, SCHEMA_ID, version) + block + _str(market)


def encode_trade(market: str, seq: int, side: str, price: float, size: float, created_us: int, trade_id: str,
                 version: int = 3) -> bytes:
    """TradeEvent (template 1, 50-byte block)."""
    tid_int = int(trade_id) & ((1 << 63) - 1) if trade_id.isdigit() else 0
    block = struct.pack("<qqqBqqqB", created_us, seq, tid_int, 1 if side == "BUY" else 2, _m(price), _m(size), created_us, 1)
    out = _HEADER.pack(len(block), TEMPLATE_TRADE, SCHEMA_ID, version) + block + _str(market)
    return out + (_str(trade_id) if version >= 2 else b"")
