"""Collect funding rates, 24h volume and open interest from every exchange concurrently.

A failing exchange does not fail the collection: its error is kept in ``FundingSnapshot.errors``
(and logged) and the others are used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from ..exchanges.base import FundingAdapter
from ..models import FundingRateSample, MarketStats

log = logging.getLogger(__name__)


@dataclass
class FundingSnapshot:
    """``rates[exchange][symbol]`` and ``stats[exchange][symbol]``; ``ts`` epoch seconds."""

    rates: dict[str, dict[str, FundingRateSample]] = field(default_factory=dict)
    stats: dict[str, dict[str, MarketStats]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for per in self.rates.values():
            out.update(per)
        return out


async def _one(name: str, adapter: FundingAdapter, timeout: float) -> tuple[str, dict, dict, str | None]:
    try:
        rates, stats = await asyncio.wait_for(
            asyncio.gather(adapter.fetch_funding_rates(), adapter.fetch_market_data()), timeout
        )
        return name, rates, stats, None
    except TimeoutError:
        return name, {}, {}, f"timed out after {timeout:.0f}s"
    except Exception as exc:  # noqa: BLE001 - one exchange failing must not stop the scan
        return name, {}, {}, f"{type(exc).__name__}: {exc}"


async def collect_funding(adapters: dict[str, FundingAdapter], timeout: float = 20.0) -> FundingSnapshot:
    """Fetch every adapter's rates and market data concurrently (``timeout`` seconds each)."""
    snap = FundingSnapshot()
    results = await asyncio.gather(*(_one(n, a, timeout) for n, a in adapters.items()))
    for name, rates, stats, err in results:
        if err is not None:
            log.warning("%s: funding collection failed: %s", name, err)
            snap.errors[name] = err
            continue
        snap.rates[name] = rates
        snap.stats[name] = stats
    return snap
