"""The atomic two-leg executor: both legs of a delta-neutral pair fill, or neither stays open.

Opening sends both legs concurrently (limit at the touch, market fallback). If one leg cannot be
filled completely, every filled quantity is closed again with reduce-only market orders (the
rollback). If even the rollback cannot flatten a leg, the result says so (``naked``) with the
exposure left, so the caller records it and alerts — it is never silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from ..exchanges.base import ExchangeClient
from ..models import Side
from .price_provider import PriceProvider
from .tactics import FillCallback, LegExecutor, LegResult

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    """Outcome of opening or closing a pair. ``naked`` lists (exchange, signed base-unit
    exposure) that could not be flattened."""

    success: bool
    long: LegResult
    short: LegResult
    rollback: list[LegResult] = field(default_factory=list)
    reason: str | None = None
    naked: list[tuple[str, Decimal]] = field(default_factory=list)


class AtomicPairExecutor:
    """``fee_overrides[exchange]`` = {"maker": fraction, "taker": fraction} from config."""

    def __init__(
        self,
        prices: PriceProvider,
        *,
        offset_ticks: int = 0,
        limit_timeout_s: float = 3.0,
        fee_overrides: dict[str, dict[str, Decimal]] | None = None,
        close_retries: int = 3,
    ) -> None:
        self.prices = prices
        self.offset_ticks = offset_ticks
        self.limit_timeout_s = limit_timeout_s
        self.fee_overrides = fee_overrides or {}
        self.close_retries = close_retries

    def _leg(self, client: ExchangeClient) -> LegExecutor:
        return LegExecutor(client, self.prices, fee_overrides=self.fee_overrides.get(client.name))

    async def open(
        self,
        long: ExchangeClient,
        short: ExchangeClient,
        symbol: str,
        long_qty: Decimal,
        short_qty: Decimal,
        *,
        on_fill: FillCallback | None = None,
        use_limit: bool = True,
    ) -> PairResult:
        """Buy ``long_qty`` on ``long`` and sell ``short_qty`` on ``short`` at the same time; each
        in that exchange's units (the same canonical amount, see ``PreflightResult``)."""
        kw = dict(use_limit=use_limit, offset_ticks=self.offset_ticks, timeout_s=self.limit_timeout_s, on_fill=on_fill)
        lr, sr = await asyncio.gather(
            self._leg(long).execute(symbol, Side.BUY, long_qty, **kw),
            self._leg(short).execute(symbol, Side.SELL, short_qty, **kw),
        )
        if lr.filled == long_qty and sr.filled == short_qty:
            return PairResult(True, lr, sr)
        reason = (
            f"legs unbalanced: {long.name} bought {lr.filled}/{long_qty}"
            f"{' (' + lr.error + ')' if lr.error else ''}, {short.name} sold {sr.filled}/{short_qty}"
            f"{' (' + sr.error + ')' if sr.error else ''}; rolling back"
        )
        log.warning("%s: %s", symbol, reason)
        result = PairResult(False, lr, sr, reason=reason)
        await self._flatten(result, [(long, Side.SELL, lr.filled), (short, Side.BUY, sr.filled)], symbol, on_fill)
        return result

    async def close(
        self,
        long: ExchangeClient,
        short: ExchangeClient,
        symbol: str,
        long_qty: Decimal,
        short_qty: Decimal,
        *,
        on_fill: FillCallback | None = None,
        use_limit: bool = True,
    ) -> PairResult:
        """Close both legs together with reduce-only orders (``*_qty`` base units, positive)."""
        kw = dict(reduce_only=True, use_limit=use_limit, offset_ticks=self.offset_ticks,
                  timeout_s=self.limit_timeout_s, on_fill=on_fill)
        lr, sr = await asyncio.gather(
            self._leg(long).execute(symbol, Side.SELL, long_qty, **kw),
            self._leg(short).execute(symbol, Side.BUY, short_qty, **kw),
        )
        result = PairResult(lr.filled == long_qty and sr.filled == short_qty, lr, sr)
        if not result.success:
            result.reason = f"close incomplete: {long.name} {lr.filled}/{long_qty}, {short.name} {sr.filled}/{short_qty}"
            await self._flatten(result, [(long, Side.SELL, long_qty - lr.filled), (short, Side.BUY, short_qty - sr.filled)],
                                symbol, on_fill)
            result.success = not result.naked
        return result

    async def _flatten(self, result: PairResult, todo: list[tuple[ExchangeClient, Side, Decimal]], symbol: str,
                       on_fill: FillCallback | None) -> None:
        """Reduce-only market orders until each remaining quantity is closed (``close_retries``)."""
        for client, side, qty in todo:
            left = qty
            for attempt in range(self.close_retries):
                if left <= 0:
                    break
                leg = await self._leg(client).execute(symbol, side, left, reduce_only=True, use_limit=False, on_fill=on_fill)
                result.rollback.append(leg)
                left -= leg.filled
                if leg.error:
                    log.warning("%s %s: flatten attempt %d failed: %s", client.name, symbol, attempt + 1, leg.error)
                    await asyncio.sleep(0.2 * (attempt + 1))
            if left > 0:
                signed = left if side is Side.SELL else -left  # exposure still open
                result.naked.append((client.name, signed))
                log.error("%s %s: could not flatten %s; NAKED exposure %s", client.name, symbol, qty, signed)
