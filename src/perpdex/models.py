"""Domain models shared by every layer.

Units: prices in quote currency (USD/USDT/USDC, treated as USD), sizes in base units, funding
rates as decimal fractions (0.0001 = 0.01 %). ``Decimal`` is used at the API edge; the book engine
keeps floats internally (see ``perpdex.book``).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

HOURS_PER_YEAR = Decimal(8760)
CANONICAL_INTERVAL_HOURS = Decimal(8)


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for buy (long exposure), -1 for sell."""
        return 1 if self is Side.BUY else -1


class OrderStatus(str, enum.Enum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class ContractAttributes:
    """Static facts about one perpetual market on one exchange.

    ``tick_size`` is the price increment (quote units), ``lot_size`` the size increment (base
    units), ``min_size`` the minimum order size (base units), ``min_notional`` the minimum order
    value (USD), ``max_leverage`` the largest leverage the exchange allows, ``contract_id`` the
    exchange's own identifier (market id, exchange symbol). All in the **exchange's** units;
    ``multiplier`` is how many canonical units one exchange unit is (1000 for ``1000PEPE``), see
    :mod:`perpdex.symbols`. ``maintenance_margin_fraction`` is the exchange's maintenance margin
    as a fraction of position notional for a small position (the first bracket / base of the
    MMF function; None when the exchange does not publish it).
    """

    exchange: str
    symbol: str
    contract_id: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    max_leverage: Decimal = Decimal(1)
    taker_fee: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)
    active: bool = True
    multiplier: Decimal = Decimal(1)
    maintenance_margin_fraction: Decimal | None = None

    @property
    def canonical_lot(self) -> Decimal:
        """The lot size in canonical units."""
        return self.lot_size * self.multiplier

    def round_price(self, price: Decimal, side: Side | None = None) -> Decimal:
        """Round ``price`` to the tick: down for buys, up for sells (never more aggressive),
        to nearest when ``side`` is None."""
        return round_to_step(price, self.tick_size, side_mode(side, passive=True))

    def round_size(self, size: Decimal) -> Decimal:
        """Round ``size`` down to the lot size (never more than asked)."""
        return round_to_step(size, self.lot_size, ROUND_DOWN)


def side_mode(side: Side | None, *, passive: bool) -> str:
    if side is None:
        return ROUND_HALF_UP
    if passive:
        return ROUND_DOWN if side is Side.BUY else ROUND_UP
    return ROUND_UP if side is Side.BUY else ROUND_DOWN


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``value`` to a multiple of ``step`` with the given ``decimal`` rounding mode."""
    if step <= 0:
        return value
    units = (value / step).quantize(Decimal(1), rounding=rounding)
    return (units * step).quantize(step)


def rate_8h(rate_per_interval: Decimal, interval_hours: Decimal) -> Decimal:
    """A fraction per funding interval of ``interval_hours`` hours scaled to the canonical 8 hours
    (``rate × 8 / interval_hours``): the one normalization of live samples and settled history.
    Raises ValueError when ``interval_hours <= 0``."""
    if interval_hours <= 0:
        raise ValueError(f"interval_hours must be positive, got {interval_hours}")
    return rate_per_interval * CANONICAL_INTERVAL_HOURS / interval_hours


@dataclass(frozen=True, slots=True)
class FundingRateSample:
    """One funding observation for one symbol on one exchange.

    ``raw_rate``: the rate as the exchange quotes it, converted to a fraction **per funding
    interval** of ``interval_hours`` hours (positive: longs pay shorts).
    ``normalized_rate``: the same rate scaled to the canonical 8 hours
    (``raw_rate * 8 / interval_hours``). ``next_funding_time`` is UTC.
    """

    exchange: str
    symbol: str
    raw_rate: Decimal
    interval_hours: Decimal
    normalized_rate: Decimal
    next_funding_time: datetime | None = None
    mark_price: Decimal | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_interval_rate(
        cls,
        exchange: str,
        symbol: str,
        rate_per_interval: Decimal,
        interval_hours: Decimal,
        **kwargs: Any,
    ) -> FundingRateSample:
        """Build a sample from a per-interval fraction; computes the 8h-normalized rate."""
        return cls(exchange, symbol, rate_per_interval, interval_hours, rate_8h(rate_per_interval, interval_hours),
                   **kwargs)

    @property
    def hourly_rate(self) -> Decimal:
        """Fraction per hour."""
        return self.raw_rate / self.interval_hours

    @property
    def apr(self) -> Decimal:
        """Simple annualized rate, fraction per year (0.1095 = 10.95 %)."""
        return self.hourly_rate * HOURS_PER_YEAR


@dataclass(frozen=True, slots=True)
class SettledFunding:
    """One settled funding rate from an exchange's public history (``perpdex history fetch``).

    ``funding_time``: the settlement instant, timezone-aware UTC (for continuous funding: the end
    of the hour the value stands for); ``rate``: fraction per funding interval of
    ``interval_hours`` hours (positive: longs pay shorts); ``mark_price``: USD per exchange unit
    where the endpoint reports one with the rate, else None; ``source`` names the endpoint, e.g.
    ``"GET /fapi/v3/fundingRate"``. Stored by :class:`perpdex.funding.settled.SettledFundingStore`."""

    exchange: str
    symbol: str
    funding_time: datetime
    rate: Decimal
    interval_hours: Decimal
    mark_price: Decimal | None = None
    source: str = ""

    @property
    def rate_8h(self) -> Decimal:
        """The rate scaled to 8 hours (fraction), by :func:`rate_8h`."""
        return rate_8h(self.rate, self.interval_hours)


@dataclass(frozen=True, slots=True)
class MarketStats:
    """24h volume and open interest, both in USD (open interest None: not known yet)."""

    exchange: str
    symbol: str
    volume_24h_usd: Decimal
    open_interest_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BBO:
    """Best bid and ask (quote units) with sizes (base units); ``ts`` in seconds (monotonic)."""

    bid: Decimal
    ask: Decimal
    bid_size: Decimal = Decimal(0)
    ask_size: Decimal = Decimal(0)
    ts: float = field(default_factory=time.monotonic)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(slots=True)
class OrderResult:
    """What came back from placing or cancelling an order. Sizes in base units."""

    success: bool
    order_id: str | None = None
    side: Side | None = None
    size: Decimal = Decimal(0)
    price: Decimal | None = None
    status: OrderStatus = OrderStatus.OPEN
    filled_size: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    error: str | None = None
    client_order_id: str | None = None


@dataclass(slots=True)
class OrderInfo:
    """Current state of one order."""

    order_id: str
    symbol: str
    side: Side
    size: Decimal
    price: Decimal | None
    status: OrderStatus
    filled_size: Decimal = Decimal(0)
    remaining_size: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    reduce_only: bool = False
    client_order_id: str | None = None
    #: conditional orders only: the trigger price (USD) and what it is compared with
    #: (``"mark"`` or ``"last"``; None where the exchange does not say)
    trigger_price: Decimal | None = None
    trigger_by: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass(slots=True)
class ExchangePositionSnapshot:
    """One open position. ``quantity`` is signed base units (+long, -short); PnL in USD."""

    exchange: str
    symbol: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal = Decimal(0)
    leverage: Decimal | None = None
    liquidation_price: Decimal | None = None
    margin_used: Decimal | None = None
    cumulative_funding: Decimal | None = None

    @property
    def side(self) -> Side | None:
        if self.quantity > 0:
            return Side.BUY
        if self.quantity < 0:
            return Side.SELL
        return None


@dataclass(slots=True)
class LeverageInfo:
    """Leverage facts for one market. ``max_leverage``/``current_leverage`` are multiples (x)."""

    symbol: str
    max_leverage: Decimal | None
    current_leverage: Decimal | None = None
    margin_requirement: Decimal | None = None  # initial margin fraction = 1 / leverage
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement on one position: ``amount`` USD (+ received, - paid), ``rate`` the
    fraction per interval applied (None if the exchange does not say), ``ts`` UTC, ``payment_id``
    the exchange's own id of the payment where it gives one (used to count a payment once)."""

    exchange: str
    symbol: str
    amount: Decimal
    rate: Decimal | None
    ts: datetime
    payment_id: str | None = None

    @property
    def key(self) -> str:
        """What identifies this payment on its exchange: its id, else its time."""
        return self.payment_id if self.payment_id is not None else self.ts.isoformat()


# --------------------------------------------------------------------------------------------------
# User-data stream events (orders, fills, positions, liquidations of our own account)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserFill:
    """One execution of one of our orders, as the exchange reported it.

    ``symbol`` canonical (``"BTC"``); ``qty`` base units of the exchange's market (bundle units
    for ``1000…`` markets, like order sizes); ``price`` quote units (USD); ``fee`` USD, positive
    when paid, negative for a rebate; ``liquidity`` ``"maker"`` | ``"taker"``; ``ts`` epoch
    **seconds**; ``liquidation`` True when the exchange closed the position itself (liquidation
    or auto-deleveraging). ``trade_id`` is the exchange's own id of the execution: a fill is
    counted once per :attr:`key`, however many times it is seen (stream, REST, a duplicated
    frame)."""

    exchange: str
    symbol: str
    order_id: str
    trade_id: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    ts: float
    client_order_id: str | None = None
    liquidation: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """``(exchange, trade_id)``: what makes two reports of a fill the same fill."""
        return (self.exchange, self.trade_id)

    @property
    def notional(self) -> Decimal:
        """``qty * price`` in USD."""
        return self.qty * self.price


@dataclass(frozen=True, slots=True)
class UserOrderUpdate:
    """The state of one of our orders after a change: ``filled``/``remaining`` base units,
    ``avg_price`` quote units (None before the first fill), ``price`` the limit price (None for
    market orders), ``ts`` epoch seconds, ``reason`` the exchange's cancel/expiry reason if any."""

    exchange: str
    symbol: str
    order_id: str
    status: OrderStatus
    filled: Decimal
    remaining: Decimal
    avg_price: Decimal | None = None
    side: Side | None = None
    price: Decimal | None = None
    client_order_id: str | None = None
    ts: float = 0.0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class UserPositionUpdate:
    """Our position in one market after a change: ``quantity`` signed base units (+long,
    -short, 0 flat), ``entry_price``/``mark_price``/``liquidation_price`` quote units (None where
    the exchange does not send them), ``unrealized_pnl`` USD, ``ts`` epoch seconds."""

    exchange: str
    symbol: str
    quantity: Decimal
    entry_price: Decimal
    liquidation_price: Decimal | None = None
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    ts: float = 0.0


@dataclass(frozen=True, slots=True)
class UserLiquidation:
    """The exchange liquidated (or auto-deleveraged) our position: ``side`` of the closing
    execution, ``qty`` base units, ``price`` quote units, ``ts`` epoch seconds, ``order_id``/
    ``trade_id`` where the exchange gives them."""

    exchange: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    ts: float
    order_id: str | None = None
    trade_id: str | None = None


UserEvent = UserFill | UserOrderUpdate | UserPositionUpdate | UserLiquidation
