"""The venue-agnostic exchange engine under every emulated exchange.

One :class:`Venue` per emulated exchange holds its markets, a synthetic L2 book per market driven
by a shared, seeded index-price process, user accounts (USD collateral, positions, leverage,
resting orders), matching, fees and funding accrual. Wire dialects (``sim/venues/<name>/``)
translate requests into calls on a :class:`Venue` and its events into frames.

Units: prices in USD per base unit, sizes in base units, rates as fractions (0.0001 = 1 bp),
timestamps in epoch **milliseconds** (real wall-clock time). ``funding_time_scale`` compresses
the funding clock only: a symbol with an 8h interval pays every ``8h / scale`` of real time while
its quoted interval stays 8h, so normalization is unaffected, and the funding estimates' process
(:mod:`perpdex.sim.market`) advances ``scale`` simulated seconds per real second. The index
price has its own clock (:class:`IndexProcess` ``time_scale``).

Errors raise :class:`SimError` with a ``kind`` the dialects map to their own error codes:
``invalid`` (bad parameters), ``margin`` (insufficient margin), ``not_found`` (unknown order or
symbol), ``reduce_only`` (reduce-only would increase the position), ``rejected`` (injected).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from ..aio import cancel_and_wait
from .faults import Faults, note_order_placed
from .history import HOUR_MS, SettledPath, funding_path, history_times, index_path
from .market import (
    FundingParams,
    FundingState,
    IndexParams,
    IndexState,
    funding_step,
    index_step,
    initial_funding_state,
    initial_index_state,
    reanchor,
)

if TYPE_CHECKING:
    from .conditional import ConditionalBook

log = logging.getLogger(__name__)


class SimError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def now_ms() -> int:
    return int(time.time() * 1000)


@functools.lru_cache(maxsize=512)
def _decimals(step: Decimal) -> int:
    """Decimal places of a tick or lot size (cached: the market process rounds on every level)."""
    return max(0, -int(step.normalize().as_tuple().exponent))


# --------------------------------------------------------------------------------------------------
# Market specification and the shared index process
# --------------------------------------------------------------------------------------------------
@dataclass
class MarketSpec:
    """One perpetual market on one venue. Fees and rates are fractions; ``funding_rate`` is per
    ``funding_interval_hours`` interval; ``spread_ticks`` is the top-of-book spread in ticks;
    ``level_size`` is the base-unit size at the top level; ``volume_24h_usd`` and
    ``open_interest_usd`` are USD."""

    symbol: str  # canonical base asset, e.g. "BTC"
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    min_notional: Decimal
    max_leverage: int
    funding_rate: float
    funding_interval_hours: float = 8.0
    spread_ticks: int = 1
    levels: int = 50
    level_size: float = 1.0
    level_gap_ticks: int = 1
    basis_bps: float = 0.0
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    volume_24h_usd: float = 0.0
    open_interest_usd: float = 0.0
    active: bool = True
    market_id: int = 0  # numeric id for venues that have one
    multiplier: int = 1  # canonical units per exchange unit (1000 for a 1000PEPE market)
    refresh_ticks: int = 1  # the market makers requote every this many steps (a thin market: several)

    @property
    def maintenance_margin_fraction(self) -> float:
        """Maintenance margin as a fraction of notional: half the initial margin fraction at max
        leverage (what every dialect publishes: Aster's bracket ``maintMarginRatio``, Lighter's
        ``maintenance_margin_fraction``, Backpack's ``mmfFunction.base``, Paradex's ``mmf_factor`` 0.5)."""
        return 0.5 / self.max_leverage

    @property
    def exchange_base(self) -> str:
        """The exchange's base asset name: ``"1000PEPE"`` for a bundled market, else the symbol."""
        return f"{self.multiplier}{self.symbol}" if self.multiplier != 1 else self.symbol

    # the float forms below are read on every level of every book refresh: computed once (tick and
    # lot size never change once a market is listed)
    @functools.cached_property
    def tick(self) -> float:
        return float(self.tick_size)

    @functools.cached_property
    def lot(self) -> float:
        return float(self.lot_size)

    @functools.cached_property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @functools.cached_property
    def size_decimals(self) -> int:
        return _decimals(self.lot_size)

    def round_price(self, price: float) -> float:
        """Nearest tick, as the float closest to the decimal tick multiple."""
        return round(round(price / self.tick) * self.tick, self.price_decimals)

    def round_size(self, size: float) -> float:
        """Nearest lot, as the float closest to the decimal lot multiple."""
        return round(round(size / self.lot) * self.lot, self.size_decimals)


class IndexProcess:
    """The seeded index price of every symbol (see :mod:`perpdex.sim.market`: ranges and trends),
    shared by all venues so that two venues' prices move together (plus each venue's basis).

    ``prices``: symbol -> USD per base unit (public: setting one by hand moves the market there and
    the process carries on from it); ``params``: one :class:`IndexParams` for every symbol or a
    symbol -> params map (symbols it does not name get the defaults); ``time_scale``: simulated
    seconds per real second; ``tick``: real seconds per :meth:`step`. Each symbol draws from its
    own generator seeded from ``seed`` and the symbol, so its path depends on nothing else."""

    def __init__(self, prices: dict[str, float], seed: int, *,
                 params: IndexParams | dict[str, IndexParams] | None = None,
                 time_scale: float = 1.0, tick: float = 0.1) -> None:
        self.prices = dict(prices)
        self.start_prices = dict(prices)  # where the generated past ends (sim/history.py)
        self.seed = seed
        self._history: dict[tuple[str, float, int], list[float]] = {}
        self.time_scale = time_scale
        self.tick = tick
        self._params = params
        self._rngs: dict[str, random.Random] = {}
        self.states: dict[str, IndexState] = {}
        self.steps = 0
        #: symbols whose price is set from outside (a recording, :mod:`perpdex.sim.recorded`):
        #: :meth:`step` leaves them as they are
        self.external: set[str] = set()
        for sym, p in self.prices.items():
            self._start(sym, p)

    def params(self, symbol: str) -> IndexParams:
        if isinstance(self._params, IndexParams):
            return self._params
        return (self._params or {}).get(symbol) or IndexParams()

    def _start(self, symbol: str, price: float) -> IndexState:
        rng = self._rngs[symbol] = random.Random(f"{self.seed}:index:{symbol}")
        st = self.states[symbol] = initial_index_state(price, self.params(symbol), rng)
        return st

    def step(self, dt: float | None = None) -> None:
        """Advance every symbol by ``dt`` simulated seconds (default ``tick x time_scale``)."""
        dt = self.tick * self.time_scale if dt is None else dt
        self.steps += 1
        for sym, p in self.prices.items():
            if sym in self.external:
                continue
            st = self.states.get(sym) or self._start(sym, p)
            if p != st.price:
                st = reanchor(st, p)
            st = self.states[sym] = index_step(st, self.params(sym), dt, self._rngs[sym])
            self.prices[sym] = st.price

    def price(self, symbol: str) -> float:
        return self.prices[symbol]

    def history(self, symbol: str, step_s: float, steps: int) -> list[float]:
        """``steps`` index prices (USD) ``step_s`` simulated seconds apart before the start,
        **newest first** (the first is the start price), from the symbol's own seeded generator
        (:func:`~perpdex.sim.history.index_path`); cached."""
        key = (symbol, step_s, steps)
        path = self._history.get(key)
        if path is None:
            rng = random.Random(f"{self.seed}:index-history:{symbol}:{step_s:g}")
            path = self._history[key] = index_path(self.start_prices[symbol], self.params(symbol), steps, step_s, rng)
        return path

    def regime(self, symbol: str) -> str:
        """``"range"`` or ``"trend"``."""
        return self.states[symbol].regime


# --------------------------------------------------------------------------------------------------
# Accounts, orders, positions
# --------------------------------------------------------------------------------------------------
@dataclass
class Fill:
    order_id: int
    trade_id: int
    symbol: str
    side: str  # "buy" | "sell"
    qty: float
    price: float
    fee: float
    maker: bool
    ts: int
    realized_pnl: float = 0.0
    system: str | None = None  # "liquidation" | "adl" for fills the exchange made on its own


@dataclass
class Order:
    id: int
    account: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # "limit" | "market"
    qty: float
    price: float | None
    tif: str = "gtc"  # gtc | ioc | fok | post_only
    reduce_only: bool = False
    client_id: str | None = None
    filled: float = 0.0
    cost: float = 0.0  # sum(qty*price) of fills
    fee: float = 0.0
    status: str = "new"  # new | partially_filled | filled | canceled | expired | rejected
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)
    system: str | None = None  # "liquidation" | "adl": an order the exchange placed (see Venue.liquidate)
    # conditional (stop-market) orders only, see perpdex.sim.conditional: type "stop_market",
    # status "untriggered" until the reference price crosses trigger_price
    trigger_price: float | None = None
    trigger_by: str | None = None  # "mark" | "last" | "index"
    trigger_above: bool | None = None  # fires when the price rises to (True) / falls to (False) the trigger
    close_position: bool = False  # Aster closePosition: the whole position at trigger time
    triggered_ms: int | None = None
    cancel_reason: str | None = None  # why a triggered order did not fill ("reduce_only", "margin")

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled, 0.0)

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled > 0 else 0.0

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled", "untriggered")


@dataclass
class Position:
    symbol: str
    qty: float = 0.0  # signed base units
    entry_price: float = 0.0
    realized_pnl: float = 0.0
    funding: float = 0.0  # cumulative funding received (+) / paid (-), USD


@dataclass
class FundingPayment:
    symbol: str
    amount: float  # USD, + received, - paid
    rate: float  # per interval
    mark: float
    qty: float  # signed position size at payment
    ts: int


@dataclass
class Account:
    id: str
    balance: float  # USD collateral (wallet balance incl. realized PnL, fees, funding)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    fundings: list[FundingPayment] = field(default_factory=list)

    def position(self, symbol: str) -> Position:
        p = self.positions.get(symbol)
        if p is None:
            p = self.positions[symbol] = Position(symbol)
        return p


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------
@dataclass
class BookEvent:
    """A book change: ``bids``/``asks`` are the changed levels (absolute sizes, 0 = removed).
    ``prev_seq`` is the sequence before this change; a gap fault makes it differ from the last
    published ``seq``."""

    symbol: str
    seq: int
    prev_seq: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    ts: int


@dataclass
class OrderEvent:
    account: str
    order: Order
    fill: Fill | None
    ts: int


@dataclass
class FundingEvent:
    account: str
    payment: FundingPayment


@dataclass
class FundingRateEvent:
    symbol: str
    rate: float
    ts: int


Event = BookEvent | OrderEvent | FundingEvent | FundingRateEvent
Listener = Callable[[Event], None]


# --------------------------------------------------------------------------------------------------
# The venue
# --------------------------------------------------------------------------------------------------
class Venue:
    """One emulated exchange: markets, synthetic books, accounts, matching and funding."""

    def __init__(
        self,
        name: str,
        markets: Iterable[MarketSpec],
        index: IndexProcess,
        *,
        seed: int = 1,
        starting_balance: float = 10_000.0,
        default_leverage: int = 5,
        funding_time_scale: float = 1.0,
        passive_fill_prob: float = 0.3,
        funding: FundingParams | None = None,
        tick: float = 0.1,
        history_days: float = 180.0,
    ) -> None:
        """``funding``: the funding-estimate model (its ``base`` is replaced by each market's rate
        per hour); None keeps every estimate at its market's ``funding_rate``. ``tick``: real
        seconds per :meth:`step`; the funding process advances ``tick x funding_time_scale``
        simulated seconds per step. Its generators are seeded per market from ``seed``, the venue
        and the symbol, so the estimates do not depend on trading. ``history_days``: how far back
        the funding-history endpoints reach before the venue started (:meth:`funding_history`)."""
        self.name = name
        self.seed = seed
        self.history_days = history_days
        self.markets: dict[str, MarketSpec] = {m.symbol: m for m in markets}
        self.index = index
        self.starting_balance = starting_balance
        self.default_leverage = default_leverage
        self.funding_time_scale = funding_time_scale
        self.passive_fill_prob = passive_fill_prob
        self.faults = Faults()
        self.accounts: dict[str, Account] = {}
        self._rng = random.Random(f"{seed}:{name}")
        self._steps = 0
        self._listeners: list[Listener] = []
        self._open: dict[int, Order] = {}  # resting orders of every account (hot path index)
        self._next_order_id = 1_000_001
        self._next_trade_id = 5_000_001
        self._books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}  # published
        self._syn: dict[str, tuple[dict[float, float], dict[float, float]]] = {}  # market makers
        #: markets whose makers' book comes from outside (:meth:`set_recorded_book`), not the ladder
        self.recorded: set[str] = set()
        self._seq: dict[str, int] = {}
        self._rates: dict[str, float] = {m.symbol: m.funding_rate for m in self.markets.values()}
        self._start_rates = dict(self._rates)
        self._history: dict[tuple[str, float], SettledPath] = {}
        #: settlements since the start, per symbol: (epoch ms, rate per interval, mark price)
        self._settled: dict[str, collections.deque[tuple[int, float, float]]] = {
            s: collections.deque(maxlen=20_000) for s in self.markets}
        self.tick = tick
        self._funding_params: dict[str, FundingParams] = {}
        self._funding: dict[str, FundingState] = {}
        self._funding_rngs: dict[str, random.Random] = {}
        if funding is not None:
            for m in self.markets.values():
                fp = self._funding_params[m.symbol] = replace(funding, base=m.funding_rate / m.funding_interval_hours)
                rng = self._funding_rngs[m.symbol] = random.Random(f"{seed}:funding:{name}:{m.symbol}")
                self._funding[m.symbol] = initial_funding_state(fp, rng)
        self._next_funding: dict[str, int] = {}
        now = self.started_ms = now_ms()
        for sym in self.markets:
            self._seq[sym] = self._rng.randrange(1_000_000, 9_000_000)
            self._next_funding[sym] = self._funding_boundary(sym, now)
            self._syn[sym] = self._synthetic_book(sym)
            self._books[sym] = (dict(self._syn[sym][0]), dict(self._syn[sym][1]))

    # -- listeners -------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener`` for every event; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, ev: Event) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - a broken listener must not break the engine
                log.exception("%s: listener failed", self.name)

    # -- markets and prices ------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSpec:
        m = self.markets.get(symbol)
        if m is None:
            raise SimError("not_found", f"unknown symbol {symbol}")
        return m

    def index_price(self, symbol: str) -> float:
        return self.index.price(symbol)

    def mid_price(self, symbol: str) -> float:
        """Venue mid in exchange units: index x multiplier x (1 + basis)."""
        m = self.market(symbol)
        return self.index.price(symbol) * m.multiplier * (1.0 + m.basis_bps / 10_000.0)

    def mark_price(self, symbol: str) -> float:
        bids, asks = self._books[symbol]
        if bids and asks:
            return (max(bids) + min(asks)) / 2.0
        return self.mid_price(symbol)

    def funding_rate(self, symbol: str) -> float:
        """Current funding estimate, fraction per interval."""
        return self._rates[symbol]

    def set_funding_rate(self, symbol: str, rate: float) -> None:
        """Pin the estimate of ``symbol`` at ``rate`` (fraction per interval): the funding process
        no longer moves it. Raises ``SimError('not_found')`` for an unknown symbol."""
        self.market(symbol).funding_rate = rate
        self._rates[symbol] = rate
        self._funding.pop(symbol, None)

    def funding_state(self, symbol: str) -> FundingState | None:
        """The funding process's state for ``symbol`` (rates per hour), None when fixed or pinned."""
        return self._funding.get(symbol)

    def _step_funding(self, dt: float) -> None:
        """Advance every market's funding estimate by ``dt`` simulated seconds."""
        for sym, st in self._funding.items():
            st = self._funding[sym] = funding_step(st, self._funding_params[sym], dt, self._funding_rngs[sym])
            self._rates[sym] = st.rate * self.markets[sym].funding_interval_hours

    def funding_history(self, symbol: str, step_hours: float | None = None) -> SettledPath:
        """Settled funding of ``symbol``, oldest first: ``history_days`` of generated settlements
        (:mod:`perpdex.sim.history`), every ``step_hours`` (default the market's interval) of real
        time up to the last step boundary at or before the venue's start, then the settlements
        paid since (at the emulator's compressed cadence when ``funding_time_scale`` > 1).
        ``rates`` per the market's interval; ``marks`` USD per exchange unit. Raises
        ``SimError('not_found')`` for an unknown symbol."""
        m = self.market(symbol)
        step_h = float(step_hours or m.funding_interval_hours)
        past = self._history.get((symbol, step_h))
        if past is None:
            steps = max(int(self.history_days * 24 / step_h), 1)
            rng = random.Random(f"{self.seed}:funding-history:{self.name}:{symbol}:{step_h:g}")
            params = self._funding_params.get(symbol)
            hours = m.funding_interval_hours
            per_hour = funding_path(params, self._start_rates[symbol] / hours, steps, step_h * 3600, rng)
            index = self.index.history(symbol, step_h * 3600, steps)
            scale = m.multiplier * (1.0 + m.basis_bps / 10_000.0)
            past = self._history[(symbol, step_h)] = SettledPath(
                history_times(self.started_ms, int(step_h * HOUR_MS), steps),
                [r * hours for r in reversed(per_hour)], [p * scale for p in reversed(index)])
        live = [row for row in self._settled[symbol] if row[0] > past.times_ms[-1]]
        if not live:
            return past
        return SettledPath(past.times_ms + [r[0] for r in live], past.rates + [r[1] for r in live],
                           past.marks + [r[2] for r in live])

    def next_funding_ms(self, symbol: str) -> int:
        return self._next_funding[symbol]

    def funding_period_ms(self, symbol: str) -> int:
        """Real milliseconds between payments (the interval compressed by the time scale)."""
        m = self.market(symbol)
        return max(int(m.funding_interval_hours * 3_600_000 / self.funding_time_scale), 1)

    def _funding_boundary(self, symbol: str, now: int) -> int:
        period = self.funding_period_ms(symbol)
        return (now // period + 1) * period

    def sequence(self, symbol: str) -> int:
        return self._seq[symbol]

    # -- books -----------------------------------------------------------------------------------
    def _synthetic_book(self, symbol: str) -> tuple[dict[float, float], dict[float, float]]:
        """The market makers' ladder around the venue mid. Levels that stay in the ladder keep
        their size (a few are perturbed each step), so consecutive books differ by small deltas
        as real ones do."""
        m = self.markets[symbol]
        tick = m.tick
        mid = self.mid_price(symbol)
        best_bid = m.round_price(math.floor(mid / tick - m.spread_ticks / 2.0 + 0.5) * tick)
        best_ask = m.round_price(best_bid + m.spread_ticks * tick)
        prev_b, prev_a = self._syn.get(symbol, ({}, {}))
        rng = self._rng
        min_lot = m.round_size(m.lot)

        decimals, levels, step_ticks = m.price_decimals, m.levels, m.level_gap_ticks

        def draw(i: int) -> float:
            return max(m.round_size(m.level_size * (1.0 + 0.15 * i) * (0.5 + rng.random())), min_lot)

        def ladder(prev: dict[float, float], start: float, direction: int) -> dict[float, float]:
            n0 = round(start / tick)  # the touch in ticks; level i sits at n0 + direction * i * gap
            out: dict[float, float] | None = None
            if len(prev) == levels and (direction > 0 or n0 - (levels - 1) * step_ticks > 0):
                # the ladder slid by `shift` levels: the levels it keeps keep their size (in order),
                # the new ones are drawn in the order of the full build below (same result, no
                # per-level rounding: the hot path of the market process at hundreds of markets)
                moved = (n0 - round(next(iter(prev)) / tick)) * direction
                shift, off_grid = divmod(moved, step_ticks)
                if not off_grid and abs(shift) < levels:
                    kept = list(prev.items())
                    if shift >= 0:
                        out = dict(kept[shift:])
                        for i in range(levels - shift, levels):
                            out[round((n0 + direction * i * step_ticks) * tick, decimals)] = draw(i)
                    else:
                        out = {round((n0 + direction * i * step_ticks) * tick, decimals): draw(i) for i in range(-shift)}
                        out.update(kept[:levels + shift])
            if out is None:
                out = {}
                for i in range(levels):
                    px = round((n0 + direction * i * step_ticks) * tick, decimals)
                    if px <= 0:
                        break
                    size = prev.get(px)
                    out[px] = draw(i) if size is None else size
            for _ in range(2):  # a couple of makers requote
                if out:
                    px = rng.choice(list(out))
                    out[px] = max(m.round_size(out[px] * (0.7 + 0.6 * rng.random())), min_lot)
            return out

        return ladder(prev_b, best_bid, -1), ladder(prev_a, best_ask, +1)

    def set_recorded_book(self, symbol: str, bids: dict[float, float], asks: dict[float, float]) -> None:
        """Install ``symbol``'s market makers' book from outside (a recording, see
        :mod:`perpdex.sim.recorded`): ``bids`` / ``asks`` map price (USD per exchange unit) to size
        (exchange base units) and are owned by the venue from now on (takers consume them). From
        then on :meth:`step` no longer generates the market's ladder. The published book (these
        levels plus the accounts' resting orders) is updated and its delta emitted; resting orders
        the new book crosses fill at once, as makers at their own price. Raises
        ``SimError('not_found')`` for an unknown symbol."""
        self.market(symbol)
        self.recorded.add(symbol)
        self._syn[symbol] = (bids, asks)
        self._refresh_book(symbol, regenerate=False)
        if any(o.symbol == symbol for o in self._open.values()):
            self._passive_fills(symbol, crossed_only=True)

    def book(self, symbol: str, depth: int | None = None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(bids, asks) best first, each (price, size), including resting user orders."""
        self.market(symbol)
        bids, asks = self._books[symbol]
        b = sorted(bids.items(), key=lambda kv: -kv[0])
        a = sorted(asks.items(), key=lambda kv: kv[0])
        if depth is not None:
            b, a = b[:depth], a[:depth]
        return b, a

    def bbo(self, symbol: str) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        """((bid, size) | None, (ask, size) | None) of the published book."""
        bids, asks = self._books[symbol]
        bb = max(bids) if bids else None
        ba = min(asks) if asks else None
        return ((bb, bids[bb]) if bb is not None else None, (ba, asks[ba]) if ba is not None else None)

    def _user_levels(self, symbol: str) -> tuple[dict[float, float], dict[float, float]]:
        ub: dict[float, float] = {}
        ua: dict[float, float] = {}
        for o in self._open.values():
            if o.symbol == symbol and o.price is not None:
                side = ub if o.side == "buy" else ua
                side[o.price] = side.get(o.price, 0.0) + o.remaining
        return ub, ua

    def _track(self, order: Order) -> None:
        """Keep the resting-order index in step with ``order``'s status."""
        if order.is_open:
            self._open[order.id] = order
        else:
            self._open.pop(order.id, None)

    def _refresh_book(self, symbol: str, regenerate: bool) -> None:
        """Recompute the published book (synthetic ladder + user orders) and emit the delta."""
        m = self.markets[symbol]
        if regenerate:
            self._syn[symbol] = self._synthetic_book(symbol)
        syn_b, syn_a = self._syn[symbol]
        ub, ua = self._user_levels(symbol)
        top_user_bid = max(ub) if ub else None
        low_user_ask = min(ua) if ua else None
        bids = {p: s for p, s in syn_b.items() if low_user_ask is None or p < low_user_ask}
        asks = {p: s for p, s in syn_a.items() if top_user_bid is None or p > top_user_bid}
        for p, s in ub.items():
            bids[p] = m.round_size(bids.get(p, 0.0) + s)
        for p, s in ua.items():
            asks[p] = m.round_size(asks.get(p, 0.0) + s)
        old_bids, old_asks = self._books.get(symbol, ({}, {}))
        db = _diff(old_bids, bids)
        da = _diff(old_asks, asks)
        self._books[symbol] = (bids, asks)
        if not db and not da:
            return
        prev = self._seq[symbol]
        if self.faults.take("gap", symbol):
            prev += 1  # the skipped update is never published
        seq = prev + 1 + self._rng.randrange(0, 3)
        self._seq[symbol] = seq
        self._emit(BookEvent(symbol, seq, prev, db, da, now_ms()))

    # -- accounts ----------------------------------------------------------------------------------
    def account(self, account_id: str) -> Account:
        """The account ``account_id``, created (and funded with ``starting_balance``) on first use."""
        a = self.accounts.get(account_id)
        if a is None:
            a = self.accounts[account_id] = Account(account_id, self.starting_balance)
        return a

    def leverage(self, account_id: str, symbol: str) -> int:
        return self.account(account_id).leverage.get(symbol, min(self.default_leverage, self.market(symbol).max_leverage))

    def set_leverage(self, account_id: str, symbol: str, leverage: int) -> int:
        """Set the account's leverage for ``symbol`` (1..max). Faults: ``leverage_reject`` refuses
        the next change (``SimError('invalid')``); ``leverage_ignore`` acknowledges it but keeps
        the old leverage (a read-back then disagrees)."""
        m = self.market(symbol)
        if leverage < 1 or leverage > m.max_leverage:
            raise SimError("invalid", f"leverage {leverage} out of range 1..{m.max_leverage} for {symbol}")
        if self.faults.take("leverage_reject", symbol):
            raise SimError("invalid", f"leverage change for {symbol} refused (injected fault)")
        if self.faults.take("leverage_ignore", symbol):
            return int(leverage)
        self.account(account_id).leverage[symbol] = int(leverage)
        return int(leverage)

    def _nonzero_positions(self, account_id: str, symbol: str | None) -> list[Position]:
        return [p for sym, p in self.account(account_id).positions.items()
                if p.qty and (symbol is None or sym == symbol)]

    def unrealized_pnl(self, account_id: str, symbol: str | None = None) -> float:
        """Mark-to-market PnL of open positions, USD."""
        return sum((self.mark_price(p.symbol) - p.entry_price) * p.qty for p in self._nonzero_positions(account_id, symbol))

    def initial_margin(self, account_id: str, symbol: str | None = None) -> float:
        """Initial margin of positions (and of open orders that add exposure), USD."""
        total = sum(abs(p.qty) * self.mark_price(p.symbol) / self.leverage(account_id, p.symbol)
                    for p in self._nonzero_positions(account_id, symbol))
        for o in self._open.values():
            if o.account == account_id and not o.reduce_only and (symbol is None or o.symbol == symbol):
                px = o.price if o.price is not None else self.mark_price(o.symbol)
                total += o.remaining * px / self.leverage(account_id, o.symbol)
        return total

    def equity(self, account_id: str) -> float:
        return self.account(account_id).balance + self.unrealized_pnl(account_id)

    def available_balance(self, account_id: str) -> float:
        """Equity minus initial margin in use: what a new position can use, USD."""
        return max(self.equity(account_id) - self.initial_margin(account_id), 0.0)

    def liquidation_price(self, account_id: str, symbol: str) -> float:
        """The emulator's liquidation rule, per position (isolated style): the position posts
        ``|qty|·entry/L`` of margin and is liquidated when that plus its unrealized PnL falls to
        the maintenance margin ``mmf·|qty|·mark``, i.e. at ``entry·(1 − 1/L)/(1 − mmf)`` for a
        long and ``entry·(1 + 1/L)/(1 + mmf)`` for a short (0.0 when flat)."""
        acct = self.account(account_id)
        pos = acct.positions.get(symbol)
        if pos is None or not pos.qty:
            return 0.0
        lev = self.leverage(account_id, symbol)
        mmf = self.market(symbol).maintenance_margin_fraction
        if pos.qty > 0:
            return max(pos.entry_price * (1 - 1 / lev) / (1 - mmf), 0.0)
        return pos.entry_price * (1 + 1 / lev) / (1 + mmf)

    def liquidate(self, account_id: str, symbol: str, qty: float | None = None, *, adl: bool = False,
                  price: float | None = None) -> Fill | None:
        """Close ``qty`` (all when None) of the account's ``symbol`` position as the exchange does
        on its own: a liquidation (the account's open orders on the market are canceled first) or,
        with ``adl``, an auto-deleveraging. The fill is at ``price`` (default: the mark), taker
        fee, on an order with ``system`` set and a client id ``autoclose-<id>`` / ``adl_autoclose-<id>``
        (Aster's naming), and is emitted like any fill. Returns it, or None when flat."""
        pos = self.account(account_id).positions.get(symbol)
        if pos is None or not pos.qty:
            return None
        m = self.market(symbol)
        q = abs(pos.qty) if qty is None else m.round_size(min(qty, abs(pos.qty)))
        if q <= 0:
            return None
        kind = "adl" if adl else "liquidation"
        if not adl:
            for o in self.open_orders(account_id, symbol):
                self.cancel_order(account_id, symbol, o.id)
        oid = self._next_order_id
        self._next_order_id += 1
        order = Order(id=oid, account=account_id, symbol=symbol, side="sell" if pos.qty > 0 else "buy", type="market",
                      qty=q, price=None, tif="ioc", reduce_only=True,
                      client_id=f"{'adl_autoclose' if adl else 'autoclose'}-{oid}", system=kind)
        self.account(account_id).orders[oid] = order
        fill = self._fill(order, q, price if price is not None else self.mark_price(symbol), maker=False)
        fill.system = kind
        log.info("%s: %s of %s %s: %s at %s", self.name, kind, account_id, symbol, q, fill.price)
        return fill

    def _check_liquidations(self, symbol: str) -> None:
        """Liquidate every position of ``symbol`` whose liquidation price the mark has reached;
        armed faults ``liquidate`` (whole positions) and ``adl`` (value: fraction, default 0.5)
        force one on every account holding the market."""
        forced = self.faults.take("liquidate", symbol)
        adl, fraction = self.faults.take_value("adl", symbol, 0.5)
        mark = self.mark_price(symbol)
        for acct in list(self.accounts.values()):
            pos = acct.positions.get(symbol)
            if pos is None or not pos.qty:
                continue
            if adl:
                self.liquidate(acct.id, symbol, abs(pos.qty) * float(fraction), adl=True)
                continue
            liq = self.liquidation_price(acct.id, symbol)
            if forced or (liq > 0 and (mark <= liq if pos.qty > 0 else mark >= liq)):
                self.liquidate(acct.id, symbol)

    # -- orders ------------------------------------------------------------------------------------
    def _check_grid(self, value: float, step: float, what: str) -> None:
        units = value / step
        if abs(units - round(units)) > 1e-6:
            raise SimError("invalid", f"{what} {value!r} is not a multiple of {step!r}")

    def place_order(
        self,
        account_id: str,
        symbol: str,
        side: str,
        qty: float,
        *,
        order_type: str = "limit",
        price: float | None = None,
        tif: str = "gtc",
        reduce_only: bool = False,
        client_id: str | None = None,
        slippage_price: float | None = None,
    ) -> Order:
        """Place an order. ``side`` buy|sell, ``order_type`` limit|market, ``tif``
        gtc|ioc|fok|post_only. Market orders walk the book (``slippage_price`` caps the walk).
        A post-only order that would cross comes back ``expired``. Raises :class:`SimError`."""
        m = self.market(symbol)
        if not m.active:
            raise SimError("invalid", f"{symbol} is not trading")
        if side not in ("buy", "sell"):
            raise SimError("invalid", f"bad side {side!r}")
        if qty <= 0:
            raise SimError("invalid", "quantity must be positive")
        self._check_grid(qty, m.lot, "quantity")
        if qty < float(m.min_size) - 1e-12:
            raise SimError("invalid", f"quantity {qty} below minimum {m.min_size}")
        if order_type == "limit":
            if price is None or price <= 0:
                raise SimError("invalid", "limit order needs a positive price")
            self._check_grid(price, m.tick, "price")
        ref_price = price if price is not None else self.mark_price(symbol)
        if not reduce_only and qty * ref_price < float(m.min_notional) - 1e-9:
            raise SimError("invalid", f"notional {qty * ref_price:.4f} below minimum {m.min_notional}")
        if self.faults.take("reject", symbol):
            raise SimError("rejected", "order rejected (injected fault)")
        acct = self.account(account_id)
        pos = acct.position(symbol)
        sign = 1 if side == "buy" else -1
        if reduce_only:
            if pos.qty * sign >= 0:
                raise SimError("reduce_only", "reduce-only order would increase the position")
            qty = min(qty, abs(pos.qty))
        else:
            # margin for the part that adds exposure
            after = pos.qty + sign * qty
            added = max(abs(after) - abs(pos.qty), 0.0)
            need = added * ref_price / self.leverage(account_id, symbol) + qty * ref_price * m.taker_fee
            if added > 0 and need > self.available_balance(account_id) + 1e-9:
                raise SimError("margin", f"insufficient margin: need {need:.2f}, available {self.available_balance(account_id):.2f}")
        order = Order(
            id=self._next_order_id, account=account_id, symbol=symbol, side=side, type=order_type,
            qty=qty, price=price, tif=tif if order_type == "limit" else "ioc", reduce_only=reduce_only, client_id=client_id,
        )
        self._next_order_id += 1
        bids, asks = self._books[symbol]
        crosses = False
        if order_type == "limit" and price is not None:
            crosses = bool((side == "buy" and asks and price >= min(asks)) or (side == "sell" and bids and price <= max(bids)))
        if order_type == "limit" and tif == "post_only" and crosses:
            order.status = "expired"
            acct.orders[order.id] = order  # queryable afterwards, like any closed order
            self._emit(OrderEvent(account_id, order, None, now_ms()))
            return order
        acct.orders[order.id] = order
        self._track(order)
        if order_type == "market" or crosses:
            limit = price if order_type == "limit" else slippage_price
            self._take(order, limit, self._partial_cap(symbol, order.remaining))
        if order.is_open and (order.type == "market" or order.tif in ("ioc", "fok")):
            order.status = "expired" if order.filled > 0 else "canceled"  # unfilled IOC remainder
            self._track(order)
            order.updated_ms = now_ms()
            self._emit(OrderEvent(account_id, order, None, order.updated_ms))
        elif order.status == "new":
            self._emit(OrderEvent(account_id, order, None, now_ms()))
        self._refresh_book(symbol, regenerate=False)
        note_order_placed(self.faults, symbol)  # ack_lost / ack_late faults of the HTTP layer
        return order

    def _partial_cap(self, symbol: str, remaining: float) -> float | None:
        """The ``partial`` fault: how much of ``remaining`` may fill now (lot-rounded down),
        None when no such fault is armed."""
        hit, fraction = self.faults.take_value("partial", symbol, 0.5)
        if not hit:
            return None
        m = self.markets[symbol]
        return m.round_size(m.lot * math.floor(remaining * float(fraction) / m.lot + 1e-9))

    def _take(self, order: Order, limit: float | None, max_qty: float | None = None) -> None:
        """Match ``order`` as taker against the market makers' ladder (never against the
        account's own resting orders); ``limit`` caps the price walk, ``max_qty`` the quantity
        (``partial`` fault)."""
        syn_b, syn_a = self._syn[order.symbol]
        opp = syn_a if order.side == "buy" else syn_b
        prices = sorted(opp) if order.side == "buy" else sorted(opp, reverse=True)
        m = self.markets[order.symbol]
        stop_at = order.filled + max_qty if max_qty is not None else None
        for px in prices:
            if order.remaining <= 1e-12 or (stop_at is not None and order.filled >= stop_at - 1e-12):
                break
            if limit is not None and ((order.side == "buy" and px > limit + 1e-12) or (order.side == "sell" and px < limit - 1e-12)):
                break
            q = min(opp[px], order.remaining)
            if stop_at is not None:
                q = m.round_size(min(q, stop_at - order.filled))
                if q <= 1e-12:
                    break
            opp[px] = m.round_size(opp[px] - q)
            if opp[px] <= 1e-12:
                del opp[px]
            self._fill(order, q, px, maker=False)

    def _fill(self, order: Order, qty: float, price: float, *, maker: bool) -> Fill:
        m = self.markets[order.symbol]
        qty = m.round_size(qty)  # exchanges report lot multiples, never float residue (0.0077 - 0.0001...)
        acct = self.account(order.account)
        fee_rate = m.maker_fee if maker else m.taker_fee
        fee = qty * price * fee_rate
        pos = acct.position(order.symbol)
        sign = 1 if order.side == "buy" else -1
        realized = 0.0
        if pos.qty == 0 or pos.qty * sign > 0:
            new_qty = pos.qty + sign * qty
            pos.entry_price = (abs(pos.qty) * pos.entry_price + qty * price) / abs(new_qty)
            pos.qty = new_qty
        else:
            closing = min(qty, abs(pos.qty))
            realized = (price - pos.entry_price) * closing * (1 if pos.qty > 0 else -1)
            pos.qty += sign * closing
            rest = qty - closing
            if abs(pos.qty) < 1e-12:
                pos.qty = 0.0
                pos.entry_price = 0.0
            if rest > 1e-12:
                pos.qty = sign * rest
                pos.entry_price = price
        pos.qty = m.round_size(pos.qty)
        pos.realized_pnl += realized
        acct.balance += realized - fee
        order.filled = m.round_size(order.filled + qty)
        order.cost += qty * price
        order.fee += fee
        order.status = "filled" if order.remaining <= 1e-12 else "partially_filled"
        self._track(order)
        ts = now_ms()
        order.updated_ms = ts
        fill = Fill(order.id, self._next_trade_id, order.symbol, order.side, qty, price, fee, maker, ts, realized)
        self._next_trade_id += 1
        acct.fills.append(fill)
        if self.faults.take("drop_on_fill", order.symbol):
            self.faults.inject("drop")  # the dialect closes its sockets right after this fill
        self._emit(OrderEvent(order.account, order, fill, ts))
        return fill

    def cancel_order(self, account_id: str, symbol: str, order_id: int | None = None, client_id: str | None = None) -> Order:
        """Cancel an open order by id or client id; raises ``SimError('not_found')``."""
        self.account(account_id)  # created on first use, as by every other call
        order = self.find_order(account_id, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise SimError("not_found", "unknown order")
        order.status = "canceled"
        order.updated_ms = now_ms()
        self._track(order)
        self._emit(OrderEvent(account_id, order, None, order.updated_ms))
        self._refresh_book(symbol, regenerate=False)
        return order

    def cancel_all(self, account_id: str, symbol: str | None = None) -> list[Order]:
        out = []
        for o in list(self.account(account_id).orders.values()):
            if o.is_open and (symbol is None or o.symbol == symbol):
                out.append(self.cancel_order(account_id, o.symbol, o.id))
        return out

    def find_order(self, account_id: str, symbol: str | None, order_id: int | None = None, client_id: str | None = None) -> Order | None:
        acct = self.account(account_id)
        if order_id is not None:
            o = acct.orders.get(int(order_id))
            if o is not None and (symbol is None or o.symbol == symbol):
                return o
            return None
        if client_id is not None:
            for o in reversed(list(acct.orders.values())):
                if o.client_id == str(client_id) and (symbol is None or o.symbol == symbol):
                    return o
        return None

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if o.account == account_id and (symbol is None or o.symbol == symbol)]

    @functools.cached_property
    def conditional(self) -> ConditionalBook:
        """This venue's conditional (stop-market) orders: :class:`~perpdex.sim.conditional.ConditionalBook`."""
        from .conditional import ConditionalBook
        return ConditionalBook(self)

    # -- the market process ------------------------------------------------------------------------
    def step(self, regenerate: bool = True, dt: float | None = None) -> None:
        """Advance one tick of ``dt`` real seconds (default ``tick``): new synthetic books around
        the moved index, passive fills of resting orders the market reaches, the funding estimates'
        process (``dt x funding_time_scale`` simulated seconds) and funding payments that are due."""
        now = now_ms()
        self._step_funding((self.tick if dt is None else dt) * self.funding_time_scale)
        self._steps += 1
        quoted = {o.symbol for o in self._open.values()}  # passive fills need a resting order
        for k, (sym, m) in enumerate(self.markets.items()):
            # a market requoting every n steps does so on its own phase (k), spreading the work
            if sym in self.recorded:
                pass  # its book changes when the recording's does (set_recorded_book)
            elif not regenerate or m.refresh_ticks <= 1 or (self._steps + k) % m.refresh_ticks == 0:
                self._refresh_book(sym, regenerate=regenerate)
            if sym in quoted:
                self._passive_fills(sym)
                self.conditional.check(sym)
            self._check_liquidations(sym)
            if now >= self._next_funding[sym]:
                self._pay_funding(sym, now)
                self._next_funding[sym] = self._funding_boundary(sym, now)

    def _passive_fills(self, symbol: str, crossed_only: bool = False) -> None:
        """Fill resting orders of ``symbol`` that the makers' book crosses, and (unless
        ``crossed_only``) those at the touch with probability ``passive_fill_prob``."""
        syn_b, syn_a = self._syn[symbol]
        syn_bid = max(syn_b) if syn_b else None
        syn_ask = min(syn_a) if syn_a else None
        changed = False
        for o in list(self._open.values()):
            if o.symbol != symbol or not o.is_open or o.price is None:
                continue
            acct = self.accounts[o.account]
            if o.side == "buy":
                at_top = syn_bid is None or o.price >= syn_bid
                crossed = syn_ask is not None and o.price >= syn_ask
            else:
                at_top = syn_ask is None or o.price <= syn_ask
                crossed = syn_bid is not None and o.price <= syn_bid
            if crossed or (not crossed_only and at_top and self._rng.random() < self.passive_fill_prob):
                if o.reduce_only:
                    pos = acct.position(symbol)
                    sign = 1 if o.side == "buy" else -1
                    if pos.qty * sign >= 0:
                        o.status = "canceled"
                        self._track(o)
                        self._emit(OrderEvent(acct.id, o, None, now_ms()))
                        changed = True
                        continue
                cap = self._partial_cap(symbol, o.remaining)
                if cap is None or cap > 0:
                    self._fill(o, o.remaining if cap is None else cap, o.price, maker=True)
                changed = True
        if changed:
            self._refresh_book(symbol, regenerate=False)

    def _pay_funding(self, symbol: str, ts: int) -> None:
        rate = self._rates[symbol]
        mark = self.mark_price(symbol)
        for acct in self.accounts.values():
            pos = acct.positions.get(symbol)
            if pos is None or not pos.qty:
                continue
            amount = -pos.qty * mark * rate  # positive rate: longs pay, shorts receive
            acct.balance += amount
            pos.funding += amount
            pay = FundingPayment(symbol, amount, rate, mark, pos.qty, ts)
            acct.fundings.append(pay)
            self._emit(FundingEvent(acct.id, pay))
        self._settled[symbol].append((ts, rate, mark))
        self._emit(FundingRateEvent(symbol, rate, ts))


def _diff(old: dict[float, float], new: dict[float, float]) -> list[tuple[float, float]]:
    out = [(p, s) for p, s in new.items() if old.get(p) != s]
    out.extend((p, 0.0) for p in old if p not in new)
    return out


class Simulation:
    """Several venues over one index process, stepped by one asyncio task every ``tick`` seconds."""

    def __init__(self, venues: dict[str, Venue], index: IndexProcess, tick: float = 0.1) -> None:
        self.venues = venues
        self.index = index
        self.tick = tick
        index.tick = tick
        for v in venues.values():
            v.tick = tick
        self._task: asyncio.Task[None] | None = None

    def venue(self, name: str) -> Venue:
        return self.venues[name]

    def step(self) -> None:
        self.index.step()
        for v in self.venues.values():
            v.step()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.step()
            except Exception:  # noqa: BLE001 - keep the market alive, log the bug
                log.exception("simulation step failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sim-market")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
