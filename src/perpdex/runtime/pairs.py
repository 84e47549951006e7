"""Pair tracking: the stored record of every delta-neutral pair a strategy opens through the atomic
executor, and crash recovery of pairs written once here for every pair strategy.

Storage rules: a position row is written **before** any order is sent (``opening``), every fill
as soon as it is known, every status change as it happens. On start, :meth:`PairTracker.recover`
takes each of the strategy's interrupted pairs (``opening`` / ``closing``): first the fills the
exchanges executed but storage never heard of are recovered from their fill history; then a pair
found complete is adopted as open (entry prices from those fills), anything else is flattened
(``opening``) or its close finished (``closing``; exit prices and fees from the recovered close
fills, and the re-entry cooldown stored as for any close). A leg that cannot be flattened is
recorded ``naked``. Resumed open pairs are compared with the exchanges: extra exposure is flagged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..errors import ExchangeError
from ..execution.atomic import AtomicPairExecutor, PairResult
from ..execution.fills import FillRecord
from ..storage import PositionRow, PositionStatus
from ..symbols import canonical_price
from .core import TradingRuntime
from .events import EventKind

log = logging.getLogger(__name__)

LIVE = [PositionStatus.OPENING, PositionStatus.OPEN, PositionStatus.CLOSING]


class PairTracker:
    """The pairs of one strategy (``strategy`` its name) on ``runtime``; ``executor`` trades
    them; ``reentry_cooldown_s`` is stored against a symbol whenever one of its pairs closes
    (a recovered close included)."""

    def __init__(self, runtime: TradingRuntime, strategy: str, executor: AtomicPairExecutor, *,
                 reentry_cooldown_s: float = 0.0) -> None:
        self.rt = runtime
        self.strategy = strategy
        self.executor = executor
        self.reentry_cooldown_s = reentry_cooldown_s
        self.deferred: set[int] = set()  # interrupted pairs left while a leg's exchange is down

    async def positions(self, statuses: list[str] | list[PositionStatus]) -> list[PositionRow]:
        """This strategy's positions (of the bot's account, or without one) in ``statuses``."""
        return await self.rt.store.positions([str(s) for s in statuses], account=self.rt.account,
                                             strategy=self.strategy)

    async def create(self, **fields: Any) -> PositionRow:
        """Write a new ``opening`` pair row of this strategy (before any order is sent)."""
        return await self.rt.store.create_position(account=self.rt.account, strategy=self.strategy,
                                                   status=PositionStatus.OPENING, **fields)

    def fill_sink(self, position_id: int, phase: str):  # noqa: ANN201 - a FillCallback
        """The executor's ``on_fill``: stores each fill of ``position_id`` as it is known."""
        async def sink(f: FillRecord) -> None:
            await self.rt.store.add_fill(
                position_id, phase, exchange=f.exchange, symbol=f.symbol, side=f.side.value, quantity=f.qty,
                price=f.price, fee=f.fee, liquidity=f.liquidity, order_id=f.order_id,
                ts=datetime.fromtimestamp(f.ts, UTC))
        return sink

    async def record_failure(self, position_id: int, result: PairResult, what: str) -> None:
        """Mark a pair whose execution did not complete: ``naked`` when exposure is left on one
        leg (logged at ERROR, listed in ``detail.naked``); ``dust`` when what is left is a hedged
        remainder no order can close (listed in ``detail.dust``, swept by :meth:`sweep_dust`);
        else ``failed``."""
        status = (PositionStatus.NAKED if result.naked else PositionStatus.DUST if result.dust
                  else PositionStatus.FAILED)
        row = await self.rt.store.position(position_id)
        detail = row.detail or {}  # type: ignore[union-attr]  # the pair's row exists while it is executed
        detail = {**detail, "naked": [[ex, str(q)] for ex, q in result.naked]}
        if result.dust:
            detail["dust"] = [[ex, f"{q.normalize():f}"] for ex, q in result.dust]
        await self.rt.store.update_position(position_id, status=status, closed_at=datetime.now(UTC),
                                            close_reason=f"{what}: {result.reason}"[:200], detail=detail)
        level = logging.ERROR if result.naked else logging.WARNING
        self.rt.event(f"position #{position_id} {status}: {result.reason}"
                      + (f"; NAKED exposure left: {result.naked}" if result.naked else ""), level,
                      kind=EventKind.NAKED_LEG if result.naked else EventKind.OPEN_FAILED if "open" in what
                      else EventKind.CLOSE_FAILED, strategy=self.strategy, position_id=position_id,
                      symbol=row.symbol, long_exchange=row.long_exchange, short_exchange=row.short_exchange,  # type: ignore[union-attr]  # as above
                      status=str(status), reason=result.reason,
                      naked=[[ex, str(q)] for ex, q in result.naked])

    async def sweep_dust(self, max_fee_usd: Decimal | None = None) -> list[int]:
        """Try to close every ``dust`` pair of this strategy (top both legs up to a tradable size
        and close them together, within ``max_fee_usd``); returns the ids closed. A sweep the fee
        cap refuses leaves the pair ``dust`` (hedged) for the next try."""
        closed = []
        for pos in await self.positions([PositionStatus.DUST]):
            long, short = self.rt.clients[pos.long_exchange], self.rt.clients[pos.short_exchange]
            try:
                lq, sq = await self.rt.fetch_leg_quantities(pos)
                if lq == 0 and sq == 0:
                    result = None
                else:
                    await self.rt.resume_books((pos.long_exchange, pos.short_exchange), pos.symbol)
                    result = await self.executor.sweep_dust(long, short, pos.symbol, lq, sq,
                                                            on_fill=self.fill_sink(pos.id, "close"),
                                                            max_fee_usd=max_fee_usd)
            except ExchangeError as exc:
                log.warning("#%d %s: dust sweep failed: %s (retried next cycle)", pos.id, pos.symbol, exc)
                continue
            if result is None or result.success:
                await self.mark_closed(pos, (pos.close_reason or "closed") + "; dust swept", await self.exit_prices(pos))
                self.rt.event(f"swept dust pair #{pos.id} {pos.symbol}: flat on both exchanges")
                closed.append(pos.id)
            elif result.naked:
                await self.record_failure(pos.id, result, "dust sweep")
        return closed

    async def mark_closed(self, pos: PositionRow, reason: str, exit_prices: dict[str, Decimal | None]) -> None:
        """A pair is flat on both exchanges: ``closed`` with its exit prices, and the symbol's
        re-entry cooldown stored (every close counts, a recovered one included)."""
        await self.rt.store.update_position(pos.id, status=PositionStatus.CLOSED, closed_at=datetime.now(UTC),
                                            close_reason=reason[:200], **exit_prices)
        await self.rt.set_cooldown(self.strategy, pos.symbol, self.reentry_cooldown_s, f"closed #{pos.id}")

    # -- prices from stored fills ------------------------------------------------------------------
    async def vwap_prices(self, pos: PositionRow, phases: tuple[str, ...], keys: tuple[str, str], *,
                          opening: bool) -> dict[str, Decimal | None]:
        """Canonical VWAP per leg of the stored fills in ``phases``, by the leg's trade direction
        (long leg: buys when ``opening``, sells when closing): ``{keys[0]: long, keys[1]: short}``."""
        lm, sm = await self.rt.multipliers(pos)
        rows = await self.rt.store.fills(pos.id)
        out: dict[str, Decimal | None] = {}
        for key, ex, mult, side in ((keys[0], pos.long_exchange, lm, "buy" if opening else "sell"),
                                    (keys[1], pos.short_exchange, sm, "sell" if opening else "buy")):
            legs = [f for f in rows if f.phase in phases and f.exchange == ex and f.side == side]
            qty = sum((f.quantity for f in legs), Decimal(0))
            vwap = sum((f.quantity * f.price for f in legs), Decimal(0)) / qty if qty > 0 else None
            out[key] = canonical_price(vwap, mult)
        return out

    async def entry_prices(self, pos: PositionRow) -> dict[str, Decimal | None]:
        return await self.vwap_prices(pos, ("open",), ("entry_long_price", "entry_short_price"), opening=True)

    async def exit_prices(self, pos: PositionRow) -> dict[str, Decimal | None]:
        return await self.vwap_prices(pos, ("close", "rollback"), ("exit_long_price", "exit_short_price"), opening=False)

    # -- recovery ----------------------------------------------------------------------------------
    def down_leg(self, pos: PositionRow) -> str | None:
        """The exchange of a leg of ``pos`` that is down (runtime health), None when both are up."""
        for ex in (pos.long_exchange, pos.short_exchange):
            if not self.rt.health.is_up(ex):
                return ex
        return None

    async def recover(self) -> list[PositionRow]:
        """Reconcile every interrupted pair of this strategy, then check the resumed open ones;
        returns the open pairs resumed. A pair with a leg on a down exchange is left as it is
        (no one-sided trade) and reconciled by :meth:`recover_deferred` once it is back."""
        for pos in await self.positions([PositionStatus.OPENING, PositionStatus.CLOSING]):
            down = self.down_leg(pos)
            if down is not None:
                self.deferred.add(pos.id)
                self.rt.event(f"#{pos.id} {pos.symbol} ({pos.status}) left as it is: {down} is down; reconciled "
                              f"when it is back", logging.WARNING, kind=EventKind.EXCHANGE_DOWN, exchange=down,
                              position_id=pos.id)
                continue
            await self.reconcile(pos)
        open_positions = await self.positions([PositionStatus.OPEN])
        for pos in open_positions:
            if self.down_leg(pos) is None:
                await self.check_resumed(pos)
        if open_positions:
            self.rt.event(f"resumed {len(open_positions)} open position(s): "
                          + ", ".join(f"#{p.id} {p.symbol}" for p in open_positions))
        return open_positions

    async def recover_deferred(self) -> list[int]:
        """Reconcile the interrupted pairs :meth:`recover` left because a leg's exchange was down,
        now that both are up; returns their ids."""
        done = []
        for pos in await self.positions([PositionStatus.OPENING, PositionStatus.CLOSING]):
            if pos.id in self.deferred and self.down_leg(pos) is None:
                self.deferred.discard(pos.id)
                await self.reconcile(pos)
                done.append(pos.id)
        return done

    async def check_resumed(self, pos: PositionRow) -> None:
        """Compare a resumed open pair with what the exchanges hold. A leg smaller than stored is
        left to the strategy's risk rules; a leg larger than stored (exposure perpdex did not
        open, e.g. a manual trade) is flagged: logged, reported and kept in ``detail``, never
        traded away silently."""
        try:
            lq, sq = await self.rt.fetch_leg_quantities(pos)
        except ExchangeError as exc:
            log.warning("#%d %s: positions not readable on resume (%s); the risk rules retry each cycle",
                        pos.id, pos.symbol, exc)
            return
        lm, sm = await self.rt.multipliers(pos)
        extra = {ex: size - pos.quantity for ex, size in ((pos.long_exchange, lq * lm), (pos.short_exchange, sq * sm))
                 if size > pos.quantity}
        if extra:
            msg = ", ".join(f"{ex} holds {q.normalize():f} more than stored" for ex, q in extra.items())
            log.warning("#%d %s: resumed position differs from the exchanges: %s", pos.id, pos.symbol, msg)
            self.rt.event(f"flagged #{pos.id} {pos.symbol}: {msg} (stored {pos.quantity.normalize():f} per leg)")
            detail = dict(pos.detail or {})
            detail["mismatch_on_resume"] = {ex: f"{q.normalize():f}" for ex, q in extra.items()}
            await self.rt.store.update_position(pos.id, detail=detail)

    async def backfill_fills(self, pos: PositionRow, phase: str) -> int:
        """Store the executions the exchanges report in this pair's symbol since it was created
        that storage lacks: a crash (kill -9) between an order's execution and its answer loses
        those fills. Per order id, the exchange's quantity beyond what is stored for that order (in
        any position) is added, oldest trades counted as the stored ones. Liquidation fills are the
        exchange's own and are left to the risk rules. Returns the number of rows added."""
        since = pos.opened_at.timestamp() - 5.0  # the row is written before any order is sent
        added = 0
        for ex in (pos.long_exchange, pos.short_exchange):
            try:
                fills = await self.rt.clients[ex].fetch_fills(pos.symbol)
            except ExchangeError as exc:
                log.warning("%s %s: fill history failed, fills of #%d may be incomplete: %s", ex, pos.symbol, pos.id, exc)
                continue
            stored = await self.rt.store.order_quantities(ex, pos.symbol)
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
                    await self.rt.store.add_fill(
                        pos.id, phase, exchange=ex, symbol=pos.symbol, side=f.side.value, quantity=qty, price=f.price,
                        fee=f.fee * qty / f.qty, liquidity=f.liquidity, order_id=oid,
                        ts=datetime.fromtimestamp(f.ts, UTC))
                    added += 1
        if added:
            self.rt.event(f"recovered {added} fill(s) of #{pos.id} {pos.symbol} from the exchanges' fill history")
        return added

    async def reconcile(self, pos: PositionRow) -> None:
        """A pair interrupted mid-open or mid-close (see module doc)."""
        await self.backfill_fills(pos, "open" if pos.status == PositionStatus.OPENING else "close")
        lq, sq = await self.rt.fetch_leg_quantities(pos)
        lm, sm = await self.rt.multipliers(pos)
        if pos.status == PositionStatus.OPENING and lq > 0 and lq * lm == sq * sm == pos.quantity:
            await self.rt.store.update_position(pos.id, status=PositionStatus.OPEN, **await self.entry_prices(pos))
            self.rt.event(f"recovered #{pos.id} {pos.symbol}: both legs found open, adopted", kind=EventKind.HEDGE,
                          strategy=self.strategy, action="adopted", position_id=pos.id, symbol=pos.symbol)
            return
        long, short = self.rt.clients[pos.long_exchange], self.rt.clients[pos.short_exchange]
        result = await self.executor.close(long, short, pos.symbol, lq, sq, on_fill=self.fill_sink(pos.id, "rollback"),
                                           use_limit=False)
        reason = "recovered after interruption while " + str(pos.status)
        if not result.success:
            await self.record_failure(pos.id, result, reason)
            return
        if pos.status == PositionStatus.CLOSING:
            await self.mark_closed(pos, pos.close_reason or reason, await self.exit_prices(pos))
            self.rt.event(f"reconciled #{pos.id} {pos.symbol}: close finished (long {lq}, short {sq} flattened) -> closed",
                          kind=EventKind.HEDGE, strategy=self.strategy, action="close finished", position_id=pos.id,
                          symbol=pos.symbol)
        else:
            await self.rt.store.update_position(pos.id, status=PositionStatus.FAILED, closed_at=datetime.now(UTC),
                                                close_reason=reason, **await self.entry_prices(pos))
            await self.rt.set_cooldown(self.strategy, pos.symbol, self.reentry_cooldown_s, f"recovered #{pos.id}")
            self.rt.event(f"reconciled #{pos.id} {pos.symbol}: flattened (long {lq}, short {sq}) -> failed",
                          kind=EventKind.HEDGE, strategy=self.strategy, action="flattened", position_id=pos.id,
                          symbol=pos.symbol)
