"""The funding-rate arbitrage strategy: WHAT to trade.

One cycle: monitor open positions (record the funding each leg received or paid) -> risk rules
(a leg liquidated or auto-deleveraged by its exchange closes the other; a leg too close to its
liquidation price closes the pair) -> exit rules (spread flipped, eroded below a threshold, max
age) -> scan (funding on every exchange, ranked by
net APR after fees) -> open (up to ``max_positions``), through the pre-flight checks and the atomic
two-leg executor.

It only decides: orders, fills, positions, recovery, cooldowns, funding sync and the market-data
pause policy belong to the runtime (:mod:`perpdex.runtime`): pairs are stored and recovered by
:class:`~perpdex.runtime.pairs.PairTracker`, and executed by the atomic pair executor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

from ..config import StrategyConfig
from ..errors import ExchangeError, ExecutionError
from ..exchanges.base import ExchangeClient, FundingAdapter
from ..execution.atomic import AtomicPairExecutor, ExecutionConfig
from ..execution.preflight import run_preflight
from ..execution.price_provider import PriceProvider, RedisDepthCache
from ..execution.tactics import TacticConfig
from ..funding.collector import FundingSnapshot, collect_funding
from ..funding.history import FundingHistory
from ..funding.opportunities import Opportunity
from ..models import UserEvent, UserLiquidation
from ..runtime.backstops import BackstopManager
from ..runtime.core import TradingRuntime
from ..runtime.events import EventKind
from ..runtime.ids import ClientIds
from ..runtime.pairs import PairTracker
from ..storage import PositionRow, PositionStatus, Store
from ..symbols import canonical_price
from . import funding_arb_rules as rules
from .report import closed_pnl
from .risk import LegState, near_liquidation, reduced_leg

log = logging.getLogger(__name__)

EventSink = Callable[[str], None]


@dataclass
class CycleReport:
    """What one cycle saw and did."""

    snapshot: FundingSnapshot | None = None
    opportunities: list[Opportunity] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _LegNames(TypedDict):
    symbol: str
    long_exchange: str
    short_exchange: str


def _legs(p: Opportunity | PositionRow) -> _LegNames:
    """An event's ``symbol``, ``long_exchange`` and ``short_exchange`` (an opportunity's or a pair's)."""
    return {"symbol": p.symbol, "long_exchange": p.long_exchange, "short_exchange": p.short_exchange}


def execution_config(cfg: StrategyConfig) -> ExecutionConfig:
    """The atomic executor's settings from the strategy config."""
    tactic = TacticConfig(offset_ticks=cfg.limit_offset_ticks, post_only=cfg.post_only,
                          reprice_retries=cfg.reprice_retries, limit_timeout_s=cfg.limit_timeout_s,
                          order_timeout_s=cfg.order_timeout_s)
    return ExecutionConfig(tactic=tactic, unhedged_timeout_s=cfg.unhedged_timeout_s,
                           max_retry_fees_usd=cfg.max_retry_fees_usd)


class FundingArbStrategy:
    """``clients``/``adapters`` by exchange name; ``fee_overrides[exchange]`` = {"maker", "taker"}
    fractions from config (None: the exchange catalog's fees); ``account``: the account this bot
    trades for (``run --account``): its positions carry it, and it sees, resumes and reconciles
    only positions of that account (None: only positions without an account); ``runtime``: the
    bot's shared :class:`~perpdex.runtime.core.TradingRuntime` (one is made over ``clients`` and
    ``store`` when None); ``name``: the strategy entry's name, carried by its positions."""

    kind = "funding_arb"

    def __init__(
        self,
        cfg: StrategyConfig,
        clients: dict[str, ExchangeClient],
        adapters: dict[str, FundingAdapter],
        store: Store,
        *,
        fee_overrides: dict[str, dict[str, Decimal]] | None = None,
        on_event: EventSink | None = None,
        account: str | None = None,
        runtime: TradingRuntime | None = None,
        name: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name or getattr(cfg, "name", None) or "funding_arb"
        if runtime is None:
            cache = RedisDepthCache(cfg.price_cache_url) if cfg.price_cache_url else None
            runtime = TradingRuntime(clients, store, account=account, prices=PriceProvider(cfg.price_cache_ttl_s, cache),
                                     on_event=on_event, feed_ready_timeout_s=cfg.feed_ready_timeout_s)
        self.runtime = runtime
        self.account = runtime.account
        self.clients = runtime.clients
        self.adapters = adapters
        self.store = runtime.store
        self.fee_overrides = fee_overrides or {}
        self.prices = runtime.prices
        self.client_ids = ClientIds(self.name)
        self.executor = AtomicPairExecutor(self.prices, execution_config(cfg), fee_overrides=self.fee_overrides,
                                           client_ids=self.client_ids.next)
        self.pairs = PairTracker(runtime, self.name, self.executor, reentry_cooldown_s=cfg.reentry_cooldown_s)
        self._risk_wakeup = asyncio.Event()  # set by a liquidation or a backstop fill seen on a user stream
        # the exchange-side stop of each leg (runtime/backstops.py); a fill wakes the risk rules
        self.backstops = BackstopManager(runtime, self.name, cfg.backstop, self.client_ids,
                                         on_fire=lambda pid, leg: self._risk_wakeup.set())
        self._unsubscribe: Callable[[], None] | None = None
        self._trading = False  # an open or close in flight (the pause policy waits)
        runtime.register_busy(lambda: self._trading)
        self.first_snapshot: FundingSnapshot | None = None
        self.last_snapshot: FundingSnapshot | None = None
        self.chosen: list[Opportunity] = []
        self.history = FundingHistory(self.store.sessions)
        self._flagged: dict[int, str] = {}  # position id -> the down exchange of one of its legs

    @property
    def symbols(self):  # noqa: ANN201 - the runtime's SymbolRegistry (tradable markets)
        return self.runtime.symbols

    async def _positions(self, statuses: list[str]) -> list[PositionRow]:
        """This strategy's positions (its account's, or those without an account) in ``statuses``."""
        return await self.pairs.positions(statuses)

    def _event(self, msg: str, level: int = logging.INFO, kind: EventKind = EventKind.INFO, **data: object) -> None:
        self.runtime.event(msg, level, kind=kind, strategy=self.name, **data)

    def _watchable(self, positions: list[PositionRow]) -> list[PositionRow]:
        """The positions whose two exchanges are up. One with a leg on a down exchange is kept as
        it is (closing only the reachable leg would leave it naked): flagged once with an event,
        and watched again (risk and exit rules) once the exchange is back."""
        out = []
        for pos in positions:
            down = self.pairs.down_leg(pos)
            if down is None:
                if self._flagged.pop(pos.id, None) is not None:
                    self.runtime.event(f"#{pos.id} {pos.symbol}: both exchanges up again; watched as usual",
                                       kind=EventKind.EXCHANGE_UP, position_id=pos.id)
                out.append(pos)
            elif self._flagged.get(pos.id) != down:
                self._flagged[pos.id] = down
                self.runtime.event(f"#{pos.id} {pos.symbol}: {down} is down; both legs kept as they are (no "
                                   f"one-sided close) until it is back", logging.WARNING, kind=EventKind.EXCHANGE_DOWN,
                                   exchange=down, position_id=pos.id)
        return out

    # -- fees --------------------------------------------------------------------------------------
    def taker_fee(self, exchange: str, symbol: str | None = None) -> Decimal:
        """Taker fee fraction: config override, else the catalog's (the symbol's, or the highest);
        see :func:`~perpdex.strategies.funding_arb_rules.leg_taker_fee`."""
        override = self.fee_overrides.get(exchange, {}).get("taker")
        contracts = self.clients[exchange].contracts
        if symbol:
            return rules.leg_taker_fee(override, contracts, symbol)
        return rules.ranking_taker_fee(override, contracts.values())

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (through the runtime), start the user streams, recover this strategy's pairs."""
        await self.runtime.start()
        if self.cfg.user_streams:
            held = {p.symbol for p in await self._positions(["opening", "open", "closing"])}
            await self.runtime.start_user_streams(held)
        self.watch_liquidations()
        self.backstops.watch()
        await self.pairs.recover()
        # a leg closed while perpdex was down (its backstop fired, or a liquidation): its survivor
        # is closed before anything else; then the backstops of the pairs still open are checked
        await self.check_risk()
        open_rows = await self._positions(["open"])
        await self.backstops.recover(open_rows)
        for pos in open_rows:
            await self.backstops.sync_pair(pos)

    async def _funding_snapshot(self) -> FundingSnapshot:
        """This cycle's funding rates: live from the exchanges (stored in the history when
        ``record_funding_history``) or the newest stored samples (``funding_source: storage``)."""
        if self.cfg.funding_source == "storage":
            return await self.history.latest_snapshot(max_age_s=self.cfg.funding_max_age_s)
        health = self.runtime.health
        snap = await collect_funding({n: a for n, a in self.adapters.items() if health.is_up(n)})
        for name, err in snap.errors.items():
            health.report_failure(name, f"funding: {err}")
        if self.cfg.record_funding_history:
            try:
                await self.history.store_round(snap)
            except Exception as exc:  # noqa: BLE001 - history is an aid; trading goes on without it
                log.warning("funding history not stored: %s", exc)
        return snap

    async def _history_filter(self, opps: list[Opportunity]) -> list[Opportunity]:
        """Keep the opportunities whose stored pair history passes ``min_mean_spread_apr`` and
        ``min_persistence_hours`` (both off by default)."""
        if not opps or not rules.history_filter_on(self.cfg):
            return opps
        stats = await self.history.stats([o.key for o in opps], self.cfg.history_hours)
        kept = rules.history_filter(self.cfg, opps, stats)
        for o in opps:
            if o not in kept:
                st = stats.get(o.key)
                log.info("%s %s/%s left out by the history filter (mean spread APR %s, persisted %.1fh over %d samples)",
                         o.symbol, o.long_exchange, o.short_exchange, getattr(st, "mean_spread_apr", None),
                         getattr(st, "persistence_hours", 0.0), getattr(st, "samples", 0))
        return kept

    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Cycle every ``scan_interval_s`` until ``duration_s`` elapsed or ``stop`` is set."""
        stop = stop or asyncio.Event()
        deadline = time.monotonic() + duration_s if duration_s else None
        while not stop.is_set():
            await self.cycle()
            if deadline is not None and time.monotonic() >= deadline:
                break
            wait = self.cfg.scan_interval_s
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0))
            await self._sleep_unless_woken(stop, wait)
        # the final funding sync so that the report includes every payment seen
        for pos in await self._positions(["open"]):
            await self._sync_funding(pos)

    async def _sleep_unless_woken(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds``, less when ``stop`` is set or a user stream reports a liquidation (the
        next cycle then runs the risk rules at once)."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._risk_wakeup.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self._risk_wakeup.clear()

    def watch_liquidations(self) -> None:
        """Listen to the runtime's user events: a liquidation or ADL wakes :meth:`run` for the risk
        rules instead of waiting for the next scan. Without user streams the rules still run every
        cycle from the position snapshots."""
        if self._unsubscribe is None:
            self._unsubscribe = self.runtime.subscribe(self._on_user_event)

    def _on_user_event(self, ev: UserEvent) -> None:
        if isinstance(ev, UserLiquidation):
            log.warning("%s %s: the exchange liquidated/deleveraged %s (%s at %s)", ev.exchange, ev.symbol, ev.qty,
                        ev.side.value, ev.price)
            self._risk_wakeup.set()

    async def check_risk(self) -> list[int]:
        """The risk rules (:meth:`risk_reason`) on every open position; closes the ones that
        trip and returns their ids."""
        closed = []
        for pos in self._watchable(await self._positions(["open"])):
            reason = await self.risk_reason(pos)
            if reason is not None:
                if await self.close_position(pos, reason):
                    closed.append(pos.id)
                await self._pause_if_idle()
        return closed

    # -- one cycle -----------------------------------------------------------------------------------
    async def cycle(self) -> CycleReport:
        report = CycleReport()
        self.watch_liquidations()
        report.closed.extend(await self.check_risk())  # a liquidated leg first: its hedge is naked
        report.closed.extend(await self.pairs.sweep_dust(self.cfg.max_retry_fees_usd))
        await self.pairs.recover_deferred()
        open_positions = self._watchable(await self._positions(["open"]))
        for pos in open_positions:  # placed, resized or moved with the legs' liquidation prices
            await self.backstops.sync_pair(pos)
        for pos in open_positions:
            await self._sync_funding(pos)
        snap = await self._funding_snapshot()
        report.snapshot = snap
        self.last_snapshot = snap
        if self.first_snapshot is None:
            self.first_snapshot = snap
        for pos in open_positions:
            reason = self.exit_reason(pos, snap, len(await self.store.funding(pos.id)))
            if reason is not None:
                if await self.close_position(pos, reason):
                    report.closed.append(pos.id)
                await self._pause_if_idle()
        slots = rules.EntrySlots(self.cfg.max_positions, len(await self._positions(["open", "opening", "closing"])))
        if slots.full:
            await self._pause_if_idle(traded=False)  # a cooldown that has run out
            return report
        fees = {ex: self.taker_fee(ex) for ex in self.clients if self.runtime.health.is_up(ex)}
        opps = await self._history_filter(rules.rank(self.cfg, snap, fees))
        report.opportunities = opps
        slots.held = {p.symbol for p in await self._positions(["open", "opening", "closing", "dust"])}
        slots.cooling = await self.runtime.cooldowns(self.name)
        for opp in slots.candidates(opps):
            if any(self.runtime.reserved_by_other(ex, opp.symbol, self.name)
                   for ex in (opp.long_exchange, opp.short_exchange)):
                continue  # a market another strategy (a grid) owns on this account
            if opp.long_exchange not in fees or opp.short_exchange not in fees:
                continue  # not configured, or down: no new entry on a down exchange
            if not {opp.long_exchange, opp.short_exchange} <= set(self.symbols.exchanges(opp.symbol)):
                report.skipped.append(opp.symbol)  # funding is quoted but a market is not tradable
                continue
            pid = await self.open_position(opp)
            await self._pause_if_idle()
            if pid is not None:
                report.opened.append(pid)
                slots.opened(opp)
            else:
                report.skipped.append(opp.symbol)
        if not report.opened:
            await self._pause_if_idle(traded=False)  # a cooldown that has run out
        return report

    async def risk_reason(self, pos: PositionRow) -> str | None:
        """Why ``pos`` must close now because of a leg's own position, or None: a leg liquidated
        or auto-deleveraged by its exchange (size below the stored size; the pair is ``open``, so
        no order of ours was working: the other leg is closed at once), then a leg whose
        liquidation price (the exchange's own) is closer to its mark than
        ``exit.min_liquidation_distance``. Position reads that fail skip the check this cycle."""
        try:
            snaps = await asyncio.gather(self.clients[pos.long_exchange].fetch_position(pos.symbol),
                                         self.clients[pos.short_exchange].fetch_position(pos.symbol))
            lm, sm = await self.runtime.multipliers(pos)
        except ExchangeError as exc:
            log.warning("#%d %s: position check failed: %s", pos.id, pos.symbol, exc)
            return None
        legs = [LegState("long", pos.long_exchange, pos.quantity, lm, snaps[0]),
                LegState("short", pos.short_exchange, pos.quantity, sm, snaps[1])]
        reason = reduced_leg(legs)
        if reason is not None:
            fired = await self.backstops.collect_fired(pos)  # the exchange closed the leg through its backstop
            if fired is not None:
                reason = fired.reason()
            self._event(f"#{pos.id} {pos.symbol}: {reason}; closing the other leg", logging.ERROR,
                        EventKind.BACKSTOP_FIRED if fired is not None else EventKind.LIQUIDATION,
                        position_id=pos.id, **_legs(pos), reason=reason)
            return reason
        return near_liquidation(legs, self.cfg.exit.min_liquidation_distance)

    def exit_reason(self, pos: PositionRow, snap: FundingSnapshot, funding_payments: int = 0) -> str | None:
        """Why ``pos`` should close now, or None: :func:`~perpdex.strategies.funding_arb_rules.exit_rule`
        at its age now and its legs' rates in ``snap``."""
        age = (datetime.now(UTC) - pos.opened_at).total_seconds()
        lr, sr = rules.snapshot_rates_8h(snap, pos.symbol, pos.long_exchange, pos.short_exchange)
        return rules.exit_rule(self.cfg, age_s=age, long_rate_8h=lr, short_rate_8h=sr,
                               funding_payments=funding_payments)

    # -- open / close ------------------------------------------------------------------------------
    async def open_position(self, opp: Opportunity) -> int | None:
        """Pre-flight then open both legs; returns the position id or None (cooldown applied)."""
        long, short = self.clients[opp.long_exchange], self.clients[opp.short_exchange]
        self._event(
            f"opportunity {opp.symbol}: long {opp.long_exchange} ({opp.long_rate_8h:+.6f}/8h) / short "
            f"{opp.short_exchange} ({opp.short_rate_8h:+.6f}/8h), net {opp.net_apr:.2%} APR"
        )
        try:
            pf = await run_preflight(
                long, short, opp.symbol,
                size_usd=self.cfg.size_usd, leverage=self.cfg.leverage,
                max_slippage_bps=self.cfg.max_slippage_bps, ready_timeout_s=self.cfg.feed_ready_timeout_s,
                prices=self.prices, max_spread_bps=self.cfg.max_spread_bps, margin_buffer=self.cfg.margin_buffer,
                min_liquidation_distance=self.cfg.min_liquidation_distance,
            )
        except (ExecutionError, ExchangeError) as exc:
            self._event(f"skip {opp.symbol}: pre-flight failed: {exc}", kind=EventKind.OPEN_REFUSED, **_legs(opp), reason=str(exc))
            await self.runtime.set_cooldown(self.name, opp.symbol, self.cfg.cooldown_s, "pre-flight failed")
            return None
        pos = await self.pairs.create(
            symbol=opp.symbol, long_exchange=opp.long_exchange, short_exchange=opp.short_exchange,
            quantity=pf.quantity, leverage=pf.leverage, entry_net_apr=opp.net_apr,
            detail={"entry": {"long_rate_8h": str(opp.long_rate_8h), "short_rate_8h": str(opp.short_rate_8h),
                              "gross_apr": str(opp.gross_apr), "fee_apr": str(opp.fee_apr)}},
        )
        start = (pf.long_position, pf.short_position) if pf.long_position is not None and pf.short_position is not None else None
        self._trading = True
        try:
            result = await self.executor.open(long, short, opp.symbol, pf.long_qty, pf.short_qty,
                                              on_fill=self.pairs.fill_sink(pos.id, "open"), start_positions=start)
        finally:
            self._trading = False
        if not result.success and not result.naked and result.balanced_qty > 0:
            # hedged at a smaller size than asked (a partial fill rolled back on the leading leg)
            self._event(f"#{pos.id} {opp.symbol}: opened {result.balanced_qty} of {pf.quantity} ({result.reason})", logging.WARNING, EventKind.HEDGE, action="rollback", position_id=pos.id, **_legs(opp), quantity=result.balanced_qty, reason=result.reason)
            await self.store.update_position(pos.id, quantity=result.balanced_qty)
        if result.success or (not result.naked and result.balanced_qty > 0):
            await self.store.update_position(
                pos.id, status=PositionStatus.OPEN,
                entry_long_price=canonical_price(result.long.avg_price, pf.long_attrs.multiplier),
                entry_short_price=canonical_price(result.short.avg_price, pf.short_attrs.multiplier),
            )
            self.chosen.append(opp)
            self._event(
                f"opened #{pos.id} {opp.symbol}: long {pf.quantity} on {opp.long_exchange} @ {result.long.avg_price}, "
                f"short {pf.quantity} on {opp.short_exchange} @ {result.short.avg_price}, {pf.leverage}x",
                kind=EventKind.POSITION_OPENED, position_id=pos.id, **_legs(opp), quantity=pf.quantity, leverage=pf.leverage, long_price=result.long.avg_price, short_price=result.short.avg_price, entry_net_apr=opp.net_apr)
            opened = await self.store.position(pos.id)
            if opened is not None:
                await self.backstops.sync_pair(opened)
            return pos.id
        await self.pairs.record_failure(pos.id, result, "open failed")
        await self.runtime.set_cooldown(self.name, opp.symbol, self.cfg.cooldown_s, "open failed")
        if result.fee_cap_hit:
            self._event(f"{opp.symbol}: retry fee cap ({self.cfg.max_retry_fees_usd} USD) reached; "
                        f"cooldown {self.cfg.cooldown_s:.0f}s")
        return None

    async def _resume_books(self, pos: PositionRow) -> None:
        await self.runtime.resume_books((pos.long_exchange, pos.short_exchange), pos.symbol)

    async def _pause_if_idle(self, *, traded: bool = True) -> None:
        """The runtime's pause policy, with this strategy's settings; busy while one of its pairs
        is opening or closing."""
        busy = bool(await self._positions(["opening", "closing"]))
        await self.runtime.pause_if_idle(enabled=self.cfg.pause_market_data_when_idle,
                                         idle_cooldown_s=self.cfg.market_data_idle_cooldown_s, busy=busy, traded=traded)

    async def close_position(self, pos: PositionRow, reason: str) -> bool:
        """Close both legs together; True when flat on both exchanges."""
        self._event(f"closing #{pos.id} {pos.symbol}: {reason}")
        await self.store.update_position(pos.id, status=PositionStatus.CLOSING, close_reason=reason)
        await self.backstops.cancel_position(pos, "pair closing")
        await self._resume_books(pos)
        await self._sync_funding(pos)
        lq, sq = await self.runtime.fetch_leg_quantities(pos)
        long, short = self.clients[pos.long_exchange], self.clients[pos.short_exchange]
        self._trading = True
        try:
            result = await self.executor.close(long, short, pos.symbol, lq, sq,
                                               on_fill=self.pairs.fill_sink(pos.id, "close"))
        finally:
            self._trading = False
        if not result.success:
            await self.pairs.record_failure(pos.id, result, "close failed")
            return False
        await self._sync_funding(pos)
        lm, sm = await self.runtime.multipliers(pos)
        exits = {"exit_long_price": canonical_price(result.long.avg_price, lm),
                 "exit_short_price": canonical_price(result.short.avg_price, sm)}
        if None in exits.values():  # a leg the exchange closed itself (a backstop): from the stored fills
            exits = {k: v if v is not None else (await self.pairs.exit_prices(pos))[k] for k, v in exits.items()}
        await self.pairs.mark_closed(pos, reason, exits)
        pnl: dict[str, Any] = dict(await closed_pnl(self.store, pos.id))
        self._event(f"closed #{pos.id} {pos.symbol}: long exit @ {result.long.avg_price}, short exit @ {result.short.avg_price}", kind=EventKind.POSITION_CLOSED, position_id=pos.id, **_legs(pos), quantity=pos.quantity, reason=reason, **pnl)
        return True

    # -- funding ---------------------------------------------------------------------------------
    async def _sync_funding(self, pos: PositionRow) -> None:
        """Record every funding payment both legs saw since the position opened (deduplicated)."""
        await self.runtime.sync_funding(pos)

    async def close(self) -> None:
        """Stop listening and close the runtime (clients, price provider) and the funding adapters."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.backstops.close()
        await self.runtime.close()
        await asyncio.gather(*(a.close() for a in self.adapters.values()), return_exceptions=True)
