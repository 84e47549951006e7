"""The funding-rate arbitrage strategy: WHAT to trade.

One cycle: monitor open positions (record the funding each leg received or paid) -> risk rules
(a leg liquidated or auto-deleveraged by its exchange closes the other; a leg too close to its
liquidation price closes the pair) -> exit rules (spread flipped, eroded below a threshold, max
age) -> scan (funding on every exchange, ranked by
net APR after fees) -> open (up to ``max_positions``), through the pre-flight checks and the atomic
two-leg executor.

Every position is written to the store **before** any order is sent (status ``opening``), every fill
as soon as it is known, and every status change as it happens; a restart resumes open positions
and reconciles ones caught mid-way (``opening`` / ``closing``) against the exchanges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

from ..config import StrategyConfig
from ..errors import ExchangeError, ExecutionError
from ..exchanges.base import ExchangeClient, FundingAdapter
from ..execution.atomic import AtomicPairExecutor, ExecutionConfig, PairResult
from ..execution.preflight import run_preflight
from ..execution.price_provider import PriceProvider, RedisDepthCache
from ..execution.fills import FillRecord
from ..execution.tactics import TacticConfig
from ..funding.collector import FundingSnapshot, collect_funding
from ..funding.history import FundingHistory
from ..funding.opportunities import Opportunity, filter_by_history, find_opportunities, spread_apr
from ..storage import PositionRow, Store
from ..models import UserLiquidation
from ..symbols import SymbolRegistry
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


def execution_config(cfg: StrategyConfig) -> ExecutionConfig:
    """The atomic executor's settings from the strategy config."""
    tactic = TacticConfig(offset_ticks=cfg.limit_offset_ticks, post_only=cfg.post_only,
                          reprice_retries=cfg.reprice_retries, limit_timeout_s=cfg.limit_timeout_s,
                          order_timeout_s=cfg.order_timeout_s)
    return ExecutionConfig(tactic=tactic, unhedged_timeout_s=cfg.unhedged_timeout_s,
                           max_retry_fees_usd=cfg.max_retry_fees_usd)


def _canonical_price(price: Decimal | None, multiplier: Decimal) -> Decimal | None:
    return None if price is None else price / multiplier


class FundingArbStrategy:
    """``clients``/``adapters`` by exchange name; ``fee_overrides[exchange]`` = {"maker", "taker"}
    fractions from config (None: the exchange catalog's fees); ``account``: the account this bot
    trades for (``run --account``): its positions carry it, and it sees, resumes and reconciles
    only positions of that account (None: only positions without an account)."""

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
    ) -> None:
        self.cfg = cfg
        self.account = account  # positions opened carry it; only its own positions are seen
        self.clients = clients
        self.adapters = adapters
        self.store = store
        self.fee_overrides = fee_overrides or {}
        self.on_event = on_event or (lambda msg: None)
        cache = RedisDepthCache(cfg.price_cache_url) if cfg.price_cache_url else None
        self.prices = PriceProvider(cfg.price_cache_ttl_s, cache)
        self.executor = AtomicPairExecutor(self.prices, execution_config(cfg), fee_overrides=self.fee_overrides)
        self._cooldown: dict[str, float] = {}  # symbol -> monotonic time until which it is skipped
        self._risk_wakeup = asyncio.Event()  # set by a liquidation seen on a user stream
        self._liquidation_listeners: dict[str, Callable[[], None]] = {}  # exchange -> remover
        self._last_trade_activity = float("-inf")  # monotonic time of the last open/close attempt
        self.first_snapshot: FundingSnapshot | None = None
        self.last_snapshot: FundingSnapshot | None = None
        self.chosen: list[Opportunity] = []
        self.symbols = SymbolRegistry()  # tradable markets, filled by start()
        self.history = FundingHistory(store.sessions)

    async def _positions(self, statuses: list[str]) -> list[PositionRow]:
        """This bot's positions (its account's, or those without an account) in ``statuses``."""
        return await self.store.positions(statuses, account=self.account)

    def _event(self, msg: str) -> None:
        log.info(msg)
        self.on_event(msg)

    # -- fees --------------------------------------------------------------------------------------
    def taker_fee(self, exchange: str, symbol: str | None = None) -> Decimal:
        """Taker fee fraction: config override, else the catalog's (the symbol's, or the highest)."""
        override = self.fee_overrides.get(exchange, {}).get("taker")
        if override is not None:
            return override
        contracts = self.clients[exchange].contracts
        if symbol and symbol in contracts:
            return contracts[symbol].taker_fee
        return max((c.taker_fee for c in contracts.values()), default=Decimal(0))

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load catalogs and resume stored positions (reconciling interrupted ones)."""
        await asyncio.gather(*(c.connect() for c in self.clients.values()))
        self.symbols = SymbolRegistry.from_contracts(c for cl in self.clients.values() for c in cl.contracts.values())
        if self.cfg.user_streams:
            await self._start_user_streams()
        for pos in await self._positions(["opening", "closing"]):
            await self._reconcile(pos)
        open_positions = await self._positions(["open"])
        for pos in open_positions:
            await self._check_resumed(pos)
        if open_positions:
            self._event(f"resumed {len(open_positions)} open position(s): "
                        + ", ".join(f"#{p.id} {p.symbol}" for p in open_positions))

    async def _check_resumed(self, pos: PositionRow) -> None:
        """Compare a resumed open position with what the exchanges hold. A leg smaller than stored
        is left to the risk rules (liquidated/ADL: the other leg is closed on the first cycle); a
        leg larger than stored (exposure perpdex did not open, e.g. a manual trade) is flagged:
        logged, reported and kept in the position's ``detail``, never traded away silently."""
        try:
            lq, sq = await self._leg_quantities(pos)
        except ExchangeError as exc:
            log.warning("#%d %s: positions not readable on resume (%s); the risk rules retry each cycle", pos.id, pos.symbol, exc)
            return
        lm, sm = await self._multipliers(pos)
        extra = {ex: size - pos.quantity for ex, size in ((pos.long_exchange, lq * lm), (pos.short_exchange, sq * sm))
                 if size > pos.quantity}
        if extra:
            msg = ", ".join(f"{ex} holds {q.normalize():f} more than stored" for ex, q in extra.items())
            log.warning("#%d %s: resumed position differs from the exchanges: %s", pos.id, pos.symbol, msg)
            self._event(f"flagged #{pos.id} {pos.symbol}: {msg} (stored {pos.quantity.normalize():f} per leg)")
            detail = dict(pos.detail or {})
            detail["mismatch_on_resume"] = {ex: f"{q.normalize():f}" for ex, q in extra.items()}
            await self.store.update_position(pos.id, detail=detail)

    async def _start_user_streams(self) -> None:
        """Start every exchange's user-data stream (tracking the symbols of stored positions) and
        wait up to ``feed_ready_timeout_s`` for them to connect; an exchange whose stream cannot
        start is logged and traded with REST fill tracking only."""
        held = sorted({p.symbol for p in await self._positions(["opening", "open", "closing"])})

        async def one(client: ExchangeClient) -> None:
            try:
                stream = await client.start_user_stream(held)
            except NotImplementedError:
                return
            except ExchangeError as exc:
                log.warning("%s: user stream not started (%s); fills tracked over REST", client.name, exc)
                return
            if not await stream.wait_connected(self.cfg.feed_ready_timeout_s):
                log.warning("%s: user stream not connected after %.0fs; it keeps retrying, fills tracked over REST "
                            "meanwhile", client.name, self.cfg.feed_ready_timeout_s)

        await asyncio.gather(*(one(c) for c in self.clients.values()))
        self.watch_liquidations()

    async def _funding_snapshot(self) -> FundingSnapshot:
        """This cycle's funding rates: live from the exchanges (stored in the history when
        ``record_funding_history``) or the newest stored samples (``funding_source: storage``)."""
        if self.cfg.funding_source == "storage":
            return await self.history.latest_snapshot(max_age_s=self.cfg.funding_max_age_s)
        snap = await collect_funding(self.adapters)
        if self.cfg.record_funding_history:
            try:
                await self.history.store_round(snap)
            except Exception as exc:  # noqa: BLE001 - history is an aid; trading goes on without it
                log.warning("funding history not stored: %s", exc)
        return snap

    async def _history_filter(self, opps: list[Opportunity]) -> list[Opportunity]:
        """Keep the opportunities whose stored pair history passes ``min_mean_spread_apr`` and
        ``min_persistence_hours`` (both off by default)."""
        if not opps or (self.cfg.min_mean_spread_apr is None and self.cfg.min_persistence_hours is None):
            return opps
        stats = await self.history.stats([o.key for o in opps], self.cfg.history_hours)
        kept = filter_by_history(opps, stats, min_mean_spread_apr=self.cfg.min_mean_spread_apr,
                                 min_persistence_hours=self.cfg.min_persistence_hours)
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
        """Listen to every running user stream (``client.user_stream``): a liquidation or ADL it
        reports wakes :meth:`run` for the risk rules instead of waiting for the next scan.
        Without user streams the rules still run every cycle from the position snapshots."""
        for client in self.clients.values():
            stream = getattr(client, "user_stream", None)
            if stream is not None and client.name not in self._liquidation_listeners:
                self._liquidation_listeners[client.name] = stream.add_listener(self._on_user_event)

    def _on_user_event(self, ev: object) -> None:
        if isinstance(ev, UserLiquidation):
            log.warning("%s %s: the exchange liquidated/deleveraged %s (%s at %s)", ev.exchange, ev.symbol, ev.qty,
                        ev.side.value, ev.price)
            self._risk_wakeup.set()

    async def check_risk(self) -> list[int]:
        """The risk rules (:meth:`risk_reason`) on every open position; closes the ones that
        trip and returns their ids."""
        closed = []
        for pos in await self._positions(["open"]):
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
        open_positions = await self._positions(["open"])
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
        open_count = len(await self._positions(["open", "opening", "closing"]))
        if open_count >= self.cfg.max_positions:
            await self._pause_if_idle(traded=False)  # a cooldown that has run out
            return report
        fees = {ex: self.taker_fee(ex) for ex in self.clients}
        opps = find_opportunities(
            snap, fees,
            min_net_apr=self.cfg.min_net_apr,
            hold_hours=self.cfg.hold_hours,
            min_volume_24h_usd=self.cfg.min_volume_24h_usd,
            min_open_interest_usd=self.cfg.min_open_interest_usd,
            symbols=self.cfg.symbols or None,
        )
        opps = await self._history_filter(opps)
        report.opportunities = opps
        held = {p.symbol for p in await self._positions(["open", "opening", "closing"])}
        now = time.monotonic()
        for opp in opps:
            if open_count >= self.cfg.max_positions:
                break
            if opp.symbol in held or self._cooldown.get(opp.symbol, 0) > now:
                continue
            if opp.long_exchange not in self.clients or opp.short_exchange not in self.clients:
                continue
            if not {opp.long_exchange, opp.short_exchange} <= set(self.symbols.exchanges(opp.symbol)):
                report.skipped.append(opp.symbol)  # funding is quoted but a market is not tradable
                continue
            pid = await self.open_position(opp)
            await self._pause_if_idle()
            if pid is not None:
                report.opened.append(pid)
                open_count += 1
                held.add(opp.symbol)
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
            snaps = await asyncio.gather(self.clients[pos.long_exchange].get_position_snapshot(pos.symbol),
                                         self.clients[pos.short_exchange].get_position_snapshot(pos.symbol))
            lm, sm = await self._multipliers(pos)
        except ExchangeError as exc:
            log.warning("#%d %s: position check failed: %s", pos.id, pos.symbol, exc)
            return None
        legs = [LegState("long", pos.long_exchange, pos.quantity, lm, snaps[0]),
                LegState("short", pos.short_exchange, pos.quantity, sm, snaps[1])]
        reason = reduced_leg(legs)
        if reason is not None:
            log.error("#%d %s: %s; closing the other leg", pos.id, pos.symbol, reason)
            return reason
        return near_liquidation(legs, self.cfg.exit.min_liquidation_distance)

    def exit_reason(self, pos: PositionRow, snap: FundingSnapshot, funding_payments: int = 0) -> str | None:
        """Why ``pos`` should close now, or None. Rules, in order: max age, spread flipped,
        spread eroded below ``exit.min_spread_apr``, max funding payments."""
        ex = self.cfg.exit
        age = (datetime.now(timezone.utc) - pos.opened_at).total_seconds()
        if age >= ex.max_age_s:
            return f"max age reached ({age:.0f}s >= {ex.max_age_s:.0f}s)"
        lr = snap.rates.get(pos.long_exchange, {}).get(pos.symbol)
        sr = snap.rates.get(pos.short_exchange, {}).get(pos.symbol)
        if lr is not None and sr is not None:
            apr = spread_apr(lr.normalized_rate, sr.normalized_rate)
            if apr < 0:
                return f"spread flipped (now {apr:.2%} APR)"
            if apr < ex.min_spread_apr:
                return f"spread eroded ({apr:.2%} APR < {ex.min_spread_apr:.2%})"
        if ex.max_funding_payments is not None and funding_payments >= ex.max_funding_payments:
            return f"collected {funding_payments} funding payments"
        return None

    # -- open / close ------------------------------------------------------------------------------
    def _fill_sink(self, position_id: int, phase: str):
        async def sink(f: FillRecord) -> None:
            await self.store.add_fill(
                position_id, phase, exchange=f.exchange, symbol=f.symbol, side=f.side.value, quantity=f.qty,
                price=f.price, fee=f.fee, liquidity=f.liquidity, order_id=f.order_id,
                ts=datetime.fromtimestamp(f.ts, timezone.utc),
            )
        return sink

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
            self._event(f"skip {opp.symbol}: pre-flight failed: {exc}")
            self._cooldown[opp.symbol] = time.monotonic() + self.cfg.cooldown_s
            return None
        pos = await self.store.create_position(
            account=self.account, symbol=opp.symbol, long_exchange=opp.long_exchange, short_exchange=opp.short_exchange,
            status="opening", quantity=pf.quantity, leverage=pf.leverage, entry_net_apr=opp.net_apr,
            detail={"entry": {"long_rate_8h": str(opp.long_rate_8h), "short_rate_8h": str(opp.short_rate_8h),
                              "gross_apr": str(opp.gross_apr), "fee_apr": str(opp.fee_apr)}},
        )
        start = (pf.long_position, pf.short_position) if pf.long_position is not None and pf.short_position is not None else None
        result = await self.executor.open(long, short, opp.symbol, pf.long_qty, pf.short_qty,
                                          on_fill=self._fill_sink(pos.id, "open"), start_positions=start)
        if not result.success and not result.naked and result.balanced_qty > 0:
            # hedged at a smaller size than asked (a partial fill rolled back on the leading leg)
            self._event(f"#{pos.id} {opp.symbol}: opened {result.balanced_qty} of {pf.quantity} ({result.reason})")
            await self.store.update_position(pos.id, quantity=result.balanced_qty)
        if result.success or (not result.naked and result.balanced_qty > 0):
            await self.store.update_position(
                pos.id, status="open",
                entry_long_price=_canonical_price(result.long.avg_price, pf.long_attrs.multiplier),
                entry_short_price=_canonical_price(result.short.avg_price, pf.short_attrs.multiplier),
            )
            self.chosen.append(opp)
            self._event(
                f"opened #{pos.id} {opp.symbol}: long {pf.quantity} on {opp.long_exchange} @ {result.long.avg_price}, "
                f"short {pf.quantity} on {opp.short_exchange} @ {result.short.avg_price}, {pf.leverage}x"
            )
            return pos.id
        await self._record_failure(pos.id, result, "open failed")
        self._cooldown[opp.symbol] = time.monotonic() + self.cfg.cooldown_s
        if result.fee_cap_hit:
            self._event(f"{opp.symbol}: retry fee cap ({self.cfg.max_retry_fees_usd} USD) reached; "
                        f"cooldown {self.cfg.cooldown_s:.0f}s")
        return None

    async def _record_failure(self, position_id: int, result: PairResult, what: str) -> None:
        status = "naked" if result.naked else "failed"
        detail = (await self.store.get_position(position_id)).detail or {}  # type: ignore[union-attr]
        detail = {**detail, "naked": [[ex, str(q)] for ex, q in result.naked]}
        await self.store.update_position(position_id, status=status, closed_at=datetime.now(timezone.utc),
                                         close_reason=f"{what}: {result.reason}", detail=detail)
        level = logging.ERROR if result.naked else logging.WARNING
        log.log(level, "position #%d %s: %s", position_id, status, result.reason)
        self._event(f"position #{position_id} {status}: {result.reason}"
                    + (f"; NAKED exposure left: {result.naked}" if result.naked else ""))

    async def _multipliers(self, pos: PositionRow) -> tuple[Decimal, Decimal]:
        """Canonical units per exchange unit on the long and the short exchange."""
        la, sa = await asyncio.gather(
            self.clients[pos.long_exchange].get_contract_attributes(pos.symbol),
            self.clients[pos.short_exchange].get_contract_attributes(pos.symbol),
        )
        return la.multiplier, sa.multiplier

    async def _resume_books(self, pos: PositionRow) -> None:
        """Market data back on for both legs before trading them (the executor falls back to REST
        if a book does not come back in time)."""
        clients = (self.clients[pos.long_exchange], self.clients[pos.short_exchange])
        await asyncio.gather(*(c.prepare_market_feed(pos.symbol) for c in clients))
        await asyncio.gather(*(c.feed.wait_ready(pos.symbol, self.cfg.feed_ready_timeout_s) for c in clients))

    async def _pause_if_idle(self, *, traded: bool = True) -> None:
        """Pause every exchange's market data when no position is being opened or closed and no
        trade was attempted for ``market_data_idle_cooldown_s`` (``traded``: one just was)."""
        now = time.monotonic()
        if traded:
            self._last_trade_activity = now
        if not self.cfg.pause_market_data_when_idle or await self._positions(["opening", "closing"]):
            return
        if now - self._last_trade_activity < self.cfg.market_data_idle_cooldown_s:
            return
        if all(getattr(c.feed, "paused", False) for c in self.clients.values()):
            return
        for client in self.clients.values():
            try:
                await client.pause_market_data_streams()
            except Exception as exc:  # noqa: BLE001 - pausing is an optimization, never fatal
                log.warning("%s: pausing market data failed: %s", client.name, exc)

    async def _leg_quantities(self, pos: PositionRow) -> tuple[Decimal, Decimal]:
        """(long size, short size) actually open on the exchanges, each in that exchange's units,
        both >= 0."""
        ls, ss = await asyncio.gather(
            self.clients[pos.long_exchange].get_position_snapshot(pos.symbol),
            self.clients[pos.short_exchange].get_position_snapshot(pos.symbol),
        )
        lq = ls.quantity if ls is not None and ls.quantity > 0 else Decimal(0)
        sq = -ss.quantity if ss is not None and ss.quantity < 0 else Decimal(0)
        return lq, sq

    async def close_position(self, pos: PositionRow, reason: str) -> bool:
        """Close both legs together; True when flat on both exchanges."""
        self._event(f"closing #{pos.id} {pos.symbol}: {reason}")
        await self.store.update_position(pos.id, status="closing", close_reason=reason)
        await self._resume_books(pos)
        await self._sync_funding(pos)
        lq, sq = await self._leg_quantities(pos)
        long, short = self.clients[pos.long_exchange], self.clients[pos.short_exchange]
        result = await self.executor.close(long, short, pos.symbol, lq, sq, on_fill=self._fill_sink(pos.id, "close"))
        if not result.success:
            await self._record_failure(pos.id, result, "close failed")
            return False
        await self._sync_funding(pos)
        lm, sm = await self._multipliers(pos)
        await self.store.update_position(
            pos.id, status="closed", closed_at=datetime.now(timezone.utc), close_reason=reason,
            exit_long_price=_canonical_price(result.long.avg_price, lm),
            exit_short_price=_canonical_price(result.short.avg_price, sm),
        )
        self._cooldown[pos.symbol] = time.monotonic() + self.cfg.reentry_cooldown_s
        self._event(f"closed #{pos.id} {pos.symbol}: long exit @ {result.long.avg_price}, short exit @ {result.short.avg_price}")
        return True

    async def _backfill_fills(self, pos: PositionRow, phase: str) -> int:
        """Store the executions the exchanges report in this position's symbol since it was created
        that storage lacks: a crash (kill -9) between an order's execution and its answer loses
        those fills. Per order id, the exchange's quantity beyond what is stored for that order (in
        any position) is added, oldest trades counted as the stored ones. Liquidation fills are the
        exchange's own and are left to the risk rules. Returns the number of rows added."""
        since = pos.opened_at.timestamp() - 5.0  # the row is written before any order is sent
        added = 0
        for ex in (pos.long_exchange, pos.short_exchange):
            try:
                fills = await self.clients[ex].fetch_fills(pos.symbol)
            except NotImplementedError:
                continue
            except ExchangeError as exc:
                log.warning("%s %s: fill history failed, fills of #%d may be incomplete: %s", ex, pos.symbol, pos.id, exc)
                continue
            stored = await self.store.order_quantities(ex, pos.symbol)
            by_order: dict[str, list] = {}
            for f in fills:
                if f.ts >= since and not f.liquidation:
                    by_order.setdefault(f.order_id, []).append(f)
            for oid, trades in by_order.items():
                have = stored.get(oid, Decimal(0))
                for f in sorted(trades, key=lambda t: (t.ts, t.trade_id)):
                    if have >= f.qty:
                        have -= f.qty
                        continue
                    qty, have = f.qty - have, Decimal(0)
                    await self.store.add_fill(
                        pos.id, phase, exchange=ex, symbol=pos.symbol, side=f.side.value, quantity=qty, price=f.price,
                        fee=f.fee * qty / f.qty, liquidity=f.liquidity, order_id=oid,
                        ts=datetime.fromtimestamp(f.ts, timezone.utc))
                    added += 1
        if added:
            self._event(f"recovered {added} fill(s) of #{pos.id} {pos.symbol} from the exchanges' fill history")
        return added

    async def _entry_prices(self, pos: PositionRow) -> dict[str, Decimal | None]:
        """Canonical VWAP entry price per leg from the stored ``open`` fills."""
        lm, sm = await self._multipliers(pos)
        out: dict[str, Decimal | None] = {}
        for key, ex, mult in (("entry_long_price", pos.long_exchange, lm), ("entry_short_price", pos.short_exchange, sm)):
            rows = [f for f in await self.store.fills(pos.id) if f.phase == "open" and f.exchange == ex]
            qty = sum((f.quantity for f in rows), Decimal(0))
            vwap = sum((f.quantity * f.price for f in rows), Decimal(0)) / qty if qty > 0 else None
            out[key] = _canonical_price(vwap, mult)
        return out

    async def _reconcile(self, pos: PositionRow) -> None:
        """A position interrupted mid-open or mid-close: first the fills the exchanges executed but
        storage never heard of are recovered from their fill history; then a pair found complete
        is adopted as open, anything else flattened (opening) or the close finished (closing),
        using the exchanges' own position sizes."""
        await self._backfill_fills(pos, "open" if pos.status == "opening" else "close")
        lq, sq = await self._leg_quantities(pos)
        lm, sm = await self._multipliers(pos)
        if pos.status == "opening" and lq > 0 and lq * lm == sq * sm == pos.quantity:
            await self.store.update_position(pos.id, status="open", **await self._entry_prices(pos))
            self._event(f"recovered #{pos.id} {pos.symbol}: both legs found open, adopted")
            return
        long, short = self.clients[pos.long_exchange], self.clients[pos.short_exchange]
        result = await self.executor.close(long, short, pos.symbol, lq, sq, on_fill=self._fill_sink(pos.id, "rollback"),
                                           use_limit=False)
        reason = "recovered after interruption while " + pos.status
        if result.success:
            status = "closed" if pos.status == "closing" else "failed"
            await self.store.update_position(pos.id, status=status, closed_at=datetime.now(timezone.utc),
                                             close_reason=pos.close_reason or reason)
            self._event(f"reconciled #{pos.id} {pos.symbol}: flattened (long {lq}, short {sq}) -> {status}")
        else:
            await self._record_failure(pos.id, result, reason)

    # -- funding ---------------------------------------------------------------------------------
    async def _sync_funding(self, pos: PositionRow) -> None:
        """Record every funding payment both legs saw since the position opened (deduplicated)."""
        since = pos.opened_at - timedelta(seconds=1)
        for ex in (pos.long_exchange, pos.short_exchange):
            try:
                payments = await self.clients[ex].fetch_funding_payments(pos.symbol, since)
            except NotImplementedError:
                continue
            except ExchangeError as exc:
                log.warning("%s %s: funding history failed: %s", ex, pos.symbol, exc)
                continue
            for p in payments:
                if await self.store.add_funding(pos.id, exchange=ex, symbol=pos.symbol, amount=p.amount,
                                                rate=p.rate, ts=p.ts, payment_key=p.key):
                    rate = f"rate {p.rate}" if p.rate is not None else "rate n/a"
                    self._event(f"funding #{pos.id} {pos.symbol} on {ex}: {p.amount:+.4f} USD ({rate})")

    async def close(self) -> None:
        await self.prices.close()
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)
        await asyncio.gather(*(a.close() for a in self.adapters.values()), return_exceptions=True)
