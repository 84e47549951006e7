"""Pre-flight checks before a two-leg trade, in this order:

1. market: both exchanges list the symbol as an active perpetual;
2. leverage (:mod:`.leverage`): each exchange's maximum for the symbol, the lower of the two (and
   of the wanted leverage) set where the exchange has a setting and read back;
3. books: the WebSocket book of both legs served within the timeout;
4. size: one quantity both exchanges can trade exactly, above both minimums;
5. liquidity per leg (:mod:`.liquidity`): spread bound, VWAP of the size walked on the book,
   slippage from the touch bound;
6. margin per leg: ``(notional / leverage + notional × taker fee) × (1 + margin_buffer)`` against
   the available collateral the exchange reports (E08);
7. liquidation per leg (:mod:`.liquidation`): the exchange's own liquidation price when a position
   already exists, else the isolated-margin estimate at the chosen leverage and the exchange's
   maintenance margin fraction; refused when closer to the mark than ``min_liquidation_distance``.

Every refusal raises :class:`~perpdex.execution.refusal.PreflightRefused` (an
:class:`~perpdex.errors.ExecutionError`) with a typed ``reason`` and a message naming the leg and
the numbers. Nothing is sent to an exchange except leverage settings. The result lists the legs
thinner book first (least notional within the slippage bound near the touch), the order in which
the executor should send them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import ExchangeError
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, ExchangePositionSnapshot, Side
from .concurrency import gather_strict
from .leverage import LeverageChoice, normalize_leverage
from .liquidation import estimate_liquidation_price, liquidation_distance, maintenance_fraction
from .liquidity import LegLiquidity, assess_leg
from .price_provider import PriceProvider
from .refusal import PreflightRefused, Refusal, refuse
from .sizing import canonical_depth, common_step, round_down

log = logging.getLogger(__name__)

DEFAULT_MARGIN_BUFFER = Decimal("0.10")
DEFAULT_MAX_SPREAD_BPS = Decimal(50)
DEFAULT_MIN_LIQUIDATION_DISTANCE = Decimal("0.10")


@dataclass(frozen=True)
class LegCheck:
    """What pre-flight found for one leg. ``role`` long|short; ``quantity`` in the exchange's
    units; prices USD per **canonical** unit; ``*_bps`` basis points; ``depth_usd`` notional the
    book offers within the slippage bound; margins USD; ``liquidation_distance`` a fraction of the
    mark; ``liquidation_source`` ``"exchange"`` (its position's own number) or ``"estimate"``."""

    role: str
    exchange: str
    side: Side
    quantity: Decimal
    liquidity: LegLiquidity
    notional_usd: Decimal
    margin_required: Decimal
    margin_available: Decimal
    maintenance_margin_fraction: Decimal
    liquidation_price: Decimal
    liquidation_distance: Decimal
    liquidation_source: str

    @property
    def vwap(self) -> Decimal:
        return self.liquidity.vwap

    @property
    def slippage_bps(self) -> Decimal:
        return self.liquidity.slippage_bps


@dataclass
class PreflightResult:
    """``quantity`` canonical base units per leg (``long_qty``/``short_qty`` the same amount in
    each exchange's own units, see ``ContractAttributes.multiplier``), ``leverage`` x, prices USD
    per canonical unit, slippage in bp. ``legs``: both legs' checks, **thinner book first**."""

    symbol: str
    quantity: Decimal
    long_qty: Decimal
    short_qty: Decimal
    leverage: Decimal
    long_attrs: ContractAttributes
    short_attrs: ContractAttributes
    long_price: Decimal  # expected average buy price
    short_price: Decimal  # expected average sell price
    long_slippage_bps: Decimal
    short_slippage_bps: Decimal
    legs: tuple[LegCheck, LegCheck] | None = None
    leverage_choice: LeverageChoice | None = None
    #: signed positions (each exchange's units, 0 when flat) read during pre-flight: the start
    #: positions :meth:`AtomicPairExecutor.open` may take instead of reading them again
    long_position: Decimal | None = None
    short_position: Decimal | None = None

    @property
    def thinner_first(self) -> tuple[str, str]:
        """The roles (``"long"``/``"short"``) in sending order: thinner book first."""
        assert self.legs is not None
        return self.legs[0].role, self.legs[1].role

    def leg(self, role: str) -> LegCheck:
        assert self.legs is not None
        return next(leg for leg in self.legs if leg.role == role)


async def _book_ready(client: ExchangeClient, leg: str, symbol: str, timeout_s: float) -> None:
    await client.prepare_market_feed(symbol)
    if not await client.feed.wait_ready(symbol, timeout_s):
        raise refuse(Refusal.BOOK_NOT_READY, leg, client.name,
                     f"order book of {symbol} not ready within {timeout_s:g}s")


def _exchange_liquidation(snap: ExchangePositionSnapshot | None, multiplier: Decimal) -> Decimal | None:
    """The liquidation price (USD per canonical unit) of an existing position, None when flat or
    when the exchange gives none."""
    if snap is None or not snap.quantity or not snap.liquidation_price:
        return None
    return snap.liquidation_price / multiplier


async def _account_reads(long: ExchangeClient, short: ExchangeClient, symbol: str) -> tuple[Any, Any]:
    """(available margins, position snapshots) of both legs, read at the same time; each either
    the list of results or the exception that failed it."""
    balances: list[Any] | BaseException
    snaps: list[Any] | BaseException
    balances, snaps = await asyncio.gather(
        gather_strict(long.fetch_available_balance(), short.fetch_available_balance()),
        gather_strict(long.fetch_position(symbol), short.fetch_position(symbol)),
        return_exceptions=True)
    return balances, snaps


def _reraise(result: Any, reason: Refusal, what: str) -> None:
    """Raise the exception an account read ended with: an exchange error as a refusal."""
    if isinstance(result, ExchangeError):
        raise PreflightRefused(reason, f"{what} failed: {result}", exchange=result.exchange or None) from result
    if isinstance(result, BaseException):
        raise result


async def run_preflight(
    long: ExchangeClient,
    short: ExchangeClient,
    symbol: str,
    *,
    size_usd: Decimal,
    leverage: Decimal,
    max_slippage_bps: Decimal,
    ready_timeout_s: float,
    prices: PriceProvider,
    depth_levels: int = 50,
    max_spread_bps: Decimal = DEFAULT_MAX_SPREAD_BPS,
    margin_buffer: Decimal = DEFAULT_MARGIN_BUFFER,
    min_liquidation_distance: Decimal = DEFAULT_MIN_LIQUIDATION_DISTANCE,
) -> PreflightResult:
    """Check that a delta-neutral pair of ``size_usd`` notional per leg (USD) can be opened now at
    up to ``leverage`` (x). Bounds: ``max_slippage_bps``/``max_spread_bps`` (bp),
    ``margin_buffer`` and ``min_liquidation_distance`` (fractions). Raises
    :class:`PreflightRefused`; exchange errors while reading are refused the same way."""
    clients = {"long": long, "short": short}
    try:
        la, sa = await gather_strict(long.contract_attributes(symbol), short.contract_attributes(symbol))
    except ExchangeError as exc:
        raise PreflightRefused(Refusal.MARKET, f"{symbol}: market lookup failed: {exc}", exchange=exc.exchange or None) from exc
    attrs = {"long": la, "short": sa}
    # margins and positions are read while the leverage and the books are checked (read again
    # after a leverage change): one round trip less before the orders
    reads = asyncio.ensure_future(_account_reads(long, short, symbol))
    try:
        choice = await normalize_leverage(long, short, symbol, leverage, la, sa)
        lev = choice.leverage

        await gather_strict(*(_book_ready(c, role, symbol, ready_timeout_s) for role, c in clients.items()))
        raw = await gather_strict(*(prices.fetch_depth(c, symbol, depth_levels) for c in clients.values()))
        depths = {role: canonical_depth(d, attrs[role].multiplier) for role, d in zip(clients, raw)}

        # one size both exchanges can trade exactly, priced at the mid of the two touches
        for role, side in (("long", Side.BUY), ("short", Side.SELL)):
            if not depths[role]["asks" if side is Side.BUY else "bids"]:
                raise refuse(Refusal.EMPTY_BOOK, role, clients[role].name,
                             f"the book has no {'ask' if side is Side.BUY else 'bid'} to take")
        mid = (depths["long"]["asks"][0]["price"] + depths["short"]["bids"][0]["price"]) / 2
        qty = round_down(size_usd / mid, common_step(la.canonical_lot, sa.canonical_lot))
        for role, c in attrs.items():
            own = qty / c.multiplier
            if qty <= 0 or own < c.min_size:
                raise refuse(Refusal.MIN_SIZE, role, c.exchange, f"size {own if qty > 0 else qty} below the minimum {c.min_size}")
            if qty * mid < c.min_notional:
                raise refuse(Refusal.MIN_SIZE, role, c.exchange, f"notional {qty * mid:.2f} USD below the minimum {c.min_notional} USD")

        sides = {"long": Side.BUY, "short": Side.SELL}
        liq = {role: assess_leg(depths[role], sides[role], qty, leg=role, exchange=clients[role].name,
                                max_slippage_bps=max_slippage_bps, max_spread_bps=max_spread_bps)
               for role in clients}

        balances, snaps = await reads
        if choice.changed:  # a leverage just set moves the available margin and a position's liquidation price
            balances, snaps = await _account_reads(long, short, symbol)
        _reraise(balances, Refusal.MARGIN, "reading available margin")
        margin: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for (role, c), avail in zip(attrs.items(), balances):
            notional = qty * liq[role].vwap
            need = (notional / lev + notional * c.taker_fee) * (1 + margin_buffer)
            if avail < need:
                raise refuse(Refusal.MARGIN, role, c.exchange,
                             f"available margin {avail:.2f} USD < {need:.2f} USD needed ({notional:.2f} USD notional at "
                             f"{lev}x + {c.taker_fee * 10_000:.1f} bp fee, {margin_buffer:.0%} buffer)")
            margin[role] = (notional, need, avail)

        _reraise(snaps, Refusal.LIQUIDATION_DISTANCE, "reading positions")
        existing = [_exchange_liquidation(snap, attrs[r].multiplier) for r, snap in zip(clients, snaps)]
        checks: list[LegCheck] = []
        for (role, c), own_liq in zip(attrs.items(), existing):
            mmf = maintenance_fraction(c)
            if own_liq is not None:
                price, source = own_liq, "exchange"
            else:
                price, source = estimate_liquidation_price(liq[role].vwap, sides[role], lev, mmf), "estimate"
            dist = liquidation_distance(price, liq[role].mid, sides[role])
            if dist < min_liquidation_distance:
                raise refuse(Refusal.LIQUIDATION_DISTANCE, role, c.exchange,
                             f"liquidation {dist:.1%} from mark ({source} {float(price):.8g} vs mark {float(liq[role].mid):.8g} at {lev}x), "
                             f"minimum {min_liquidation_distance:.0%}")
            notional, need, avail = margin[role]
            checks.append(LegCheck(role, c.exchange, sides[role], qty / c.multiplier, liq[role], notional, need, avail,
                                   mmf, price, dist, source))

        ordered = sorted(checks, key=lambda lc: lc.liquidity.depth_usd)  # stable: long first on a tie
        lc, sc = checks
        return PreflightResult(symbol, qty, qty / la.multiplier, qty / sa.multiplier, lev, la, sa, lc.vwap, sc.vwap,
                               lc.slippage_bps, sc.slippage_bps, legs=(ordered[0], ordered[1]), leverage_choice=choice,
                               long_position=snaps[0].quantity if snaps[0] is not None else Decimal(0),
                               short_position=snaps[1].quantity if snaps[1] is not None else Decimal(0))
    finally:
        if not reads.done():
            reads.cancel()
        await asyncio.gather(reads, return_exceptions=True)
