"""msgspec structs for Lighter's wire payloads (protocol doc: docs/exchanges/lighter.md).

Lighter mixes strings and numbers for the same field across endpoints (ccxt notes "strings or
numbers"), so every decoder here is built with ``strict=False``: ``"4"`` decodes into an ``int``
field and ``3550.69`` into a ``Decimal`` one. Units are the exchange's and are named per field.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

ZERO = Decimal(0)


class OrderBookDetail(msgspec.Struct, kw_only=True):
    """One market of ``GET /api/v1/orderBookDetails`` (§2.2).

    ``price_decimals``/``size_decimals``: tick = 10^-price_decimals, lot = 10^-size_decimals.
    ``min_base_amount`` base units, ``min_quote_amount`` USDC. ``*_margin_fraction`` in units of
    0.01 % (200 = 2 % = 50x). ``taker_fee``/``maker_fee`` are the exchange's fee strings.
    ``daily_quote_token_volume`` USDC per 24 h; ``open_interest`` **base units** here.
    ``mark_price``/``index_price`` USD (newer schema; None when absent)."""

    symbol: str
    market_id: int
    market_type: str = "perp"
    status: str = "active"
    taker_fee: Decimal = ZERO
    maker_fee: Decimal = ZERO
    min_base_amount: Decimal = ZERO
    min_quote_amount: Decimal = ZERO
    size_decimals: int
    price_decimals: int
    quote_multiplier: int = 1
    default_initial_margin_fraction: int = 0
    min_initial_margin_fraction: int = 0
    maintenance_margin_fraction: int = 0
    last_trade_price: Decimal = ZERO
    daily_base_token_volume: Decimal = ZERO
    daily_quote_token_volume: Decimal = ZERO
    open_interest: Decimal = ZERO
    mark_price: Decimal | None = None
    index_price: Decimal | None = None


class SpotOrderBookDetail(msgspec.Struct, kw_only=True):
    """A spot market of ``orderBookDetails`` (ids from 2048); only parsed to be excluded."""

    symbol: str
    market_id: int
    market_type: str = "spot"


class OrderBookDetailsResponse(msgspec.Struct, kw_only=True):
    code: int = 200
    order_book_details: list[OrderBookDetail] = []
    spot_order_book_details: list[SpotOrderBookDetail] = []


class RestingOrder(msgspec.Struct, kw_only=True):
    """One L3 row of ``orderBookOrders`` (§3.1): ``price`` USD, ``remaining_base_amount`` base."""

    price: Decimal
    remaining_base_amount: Decimal
    order_id: str = ""
    owner_account_index: int = 0


class OrderBookOrdersResponse(msgspec.Struct, kw_only=True):
    code: int = 200
    asks: list[RestingOrder] = []
    bids: list[RestingOrder] = []


class FundingRateRow(msgspec.Struct, kw_only=True):
    """``GET /api/v1/funding-rates`` row (§3.4): ``rate`` is a **fraction per 8 hours**, rows of
    other venues are mixed in (``exchange`` != ``"lighter"``)."""

    market_id: int
    exchange: str
    symbol: str
    rate: Decimal


class FundingRatesResponse(msgspec.Struct, kw_only=True):
    code: int = 200
    funding_rates: list[FundingRateRow] = []


class FundingRow(msgspec.Struct, kw_only=True):
    """``GET /api/v1/fundings`` row (§3.5): ``timestamp`` epoch **seconds**, ``rate`` percent of
    notional for that hour (unsigned; the sign is ``direction``, the side that paid), ``value``
    USDC paid per unit of base."""

    timestamp: int
    rate: Decimal
    direction: str
    value: Decimal | None = None


class FundingsResponse(msgspec.Struct, kw_only=True):
    code: int = 200
    resolution: str = ""
    fundings: list[FundingRow] = []


class ErrorBody(msgspec.Struct, kw_only=True):
    """Error answer of REST calls and sendTx: ``{"code": 21706, "message": "..."}`` (§5.6)."""

    code: int
    message: str = ""


class Level(msgspec.Struct, kw_only=True, gc=False):
    """One aggregated book level ``{"price": "3327.46", "size": "29.0915"}``: price USD, size base
    units (0 deletes). Decoded straight to floats.

    The WebSocket frame structs are ``gc=False`` (hot path, see benchmarks/bench_feeds.py): decoded
    JSON never forms reference cycles, so the garbage collector need not track them."""

    price: float
    size: float


class WsOrderBook(msgspec.Struct, kw_only=True, gc=False):
    """``order_book`` body of ``subscribed/order_book`` and ``update/order_book`` (§4.3).
    Continuity: ``begin_nonce`` must equal the previous message's ``nonce``; ``offset`` is
    per API server and never used for gap detection."""

    asks: list[Level] = []
    bids: list[Level] = []
    nonce: int
    begin_nonce: int | None = None
    offset: int = 0
    code: int = 0


class WsError(msgspec.Struct, kw_only=True, gc=False):
    code: int
    message: str = ""


class WsFrame(msgspec.Struct, kw_only=True, gc=False):
    """Any server frame on ``/stream``: ``type`` (``connected``, ``ping``, ``subscribed/<ch>``,
    ``update/<ch>``, ``unsubscribed``), ``channel`` (``"order_book:0"``), ``timestamp`` ms."""

    type: str = ""
    channel: str = ""
    order_book: WsOrderBook | None = None
    timestamp: int = 0
    error: WsError | None = None
    market_stats: msgspec.Raw = msgspec.Raw(b"")  # one MarketStats, or a map of them (``market_stats/all``); empty when absent


class MarketStats(msgspec.Struct, kw_only=True):
    """``market_stats`` entry (§4.4): funding fields are **percent per hour** strings;
    ``open_interest`` is **USD** here; prices USD; ``funding_timestamp`` ms."""

    market_id: int
    symbol: str = ""
    index_price: Decimal = ZERO
    mark_price: Decimal = ZERO
    open_interest: Decimal = ZERO
    current_funding_rate: Decimal = ZERO
    funding_rate: Decimal = ZERO
    funding_timestamp: int = 0
    daily_quote_token_volume: Decimal = ZERO


class AccountPosition(msgspec.Struct, kw_only=True):
    """Position of ``GET /api/v1/account`` (§5.8): ``sign`` +1/-1, ``position`` absolute base
    size, ``initial_margin_fraction`` a **percent** string (5.00 => 20x), ``position_value`` USD
    at mark, ``margin_mode`` 0 cross / 1 isolated."""

    market_id: int
    symbol: str = ""
    sign: int = 0
    position: Decimal = ZERO
    avg_entry_price: Decimal = ZERO
    position_value: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    liquidation_price: Decimal = ZERO
    initial_margin_fraction: Decimal = ZERO
    margin_mode: int = 0
    total_funding_paid_out: Decimal | None = None


class Account(msgspec.Struct, kw_only=True):
    """Account of ``GET /api/v1/account``: ``collateral`` and ``available_balance`` USDC."""

    index: int
    collateral: Decimal = ZERO
    available_balance: Decimal = ZERO
    positions: list[AccountPosition] = []


class AccountResponse(msgspec.Struct, kw_only=True):
    code: int = 200
    accounts: list[Account] = []


# -- private WebSocket channels (protocol doc §6) and the matching REST rows (§5.8) ----------------
class AccountOrder(msgspec.Struct, kw_only=True):
    """An order of ours (``account_all_orders``, ``accountActiveOrders``...): sizes base units,
    ``price`` quote, ``status`` open | in-progress | pending | filled | canceled[-<reason>];
    ``order_index`` is the order id, ``client_order_index`` 0 when unset; times in seconds."""

    order_index: int
    market_index: int
    client_order_index: int = 0
    initial_base_amount: Decimal = ZERO
    remaining_base_amount: Decimal = ZERO
    filled_base_amount: Decimal = ZERO
    filled_quote_amount: Decimal = ZERO
    price: Decimal = ZERO
    is_ask: bool = False
    type: str = ""
    status: str = ""
    updated_at: int = 0


class AccountTrade(msgspec.Struct, kw_only=True):
    """One trade row (``account_all_trades``, ``GET /api/v1/trades``): ``size`` base units,
    ``price`` quote, ``usd_amount`` USD; our side is the one whose ``*_account_id`` is our
    account; ``maker_fee``/``taker_fee`` in millionths of ``usd_amount``; ``timestamp`` ms;
    ``type`` trade | liquidation | deleverage."""

    trade_id: int
    market_id: int
    size: Decimal
    price: Decimal
    usd_amount: Decimal = ZERO
    ask_id: int = 0
    bid_id: int = 0
    ask_client_id: int = 0
    bid_client_id: int = 0
    ask_account_id: int = 0
    bid_account_id: int = 0
    is_maker_ask: bool = False
    timestamp: int = 0
    type: str = "trade"
    maker_fee: int = 0
    taker_fee: int = 0


class Notification(msgspec.Struct, kw_only=True):
    """``notification`` item; for ``kind == "liquidation"`` the content carries ``market_index``,
    ``is_ask``, ``size`` (base), ``price``/``avg_price`` (quote), ``timestamp``."""

    kind: str = ""
    content: dict[str, object] = {}


class WsAccountFrame(msgspec.Struct, kw_only=True):
    """Any frame on a private socket: ``type`` ``subscribed/<name>`` | ``update/<name>`` |
    connected | ping | ...; the payload field of the channel is set."""

    type: str = ""
    channel: str = ""
    orders: dict[str, list[AccountOrder]] | None = None
    trades: dict[str, list[AccountTrade]] | None = None
    positions: dict[str, AccountPosition] | None = None
    notifs: list[Notification] = []
    error: WsError | None = None


def decoder(tp: type) -> msgspec.json.Decoder:
    """A lenient (``strict=False``) JSON decoder for ``tp``."""
    return msgspec.json.Decoder(tp, strict=False)


order_book_details = decoder(OrderBookDetailsResponse)
order_book_orders = decoder(OrderBookOrdersResponse)
funding_rates = decoder(FundingRatesResponse)
fundings = decoder(FundingsResponse)
ws_frame = decoder(WsFrame)
market_stats = decoder(MarketStats)
market_stats_all = decoder(dict[str, MarketStats])
account = decoder(AccountResponse)
error_body = decoder(ErrorBody)
ws_account_frame = decoder(WsAccountFrame)
