"""The daily summary: what the bot holds and what it made over the last 24 hours, published as a
``summary`` event at ``alerts.daily_summary_utc`` every day.

Figures (USD, from storage, the bot's account only):

* ``open_positions``: pairs still holding something (open, opening, closing, naked, dust), with
  ``naked`` counting the naked ones; ``grids``: grid strategies' open holder rows;
* ``closed_positions`` and ``realized_pnl_usd``: pairs closed (or failed) in the window and the
  sum of their net PnL, computed as in the run report (price PnL + funding - fees);
* ``funding_usd``: every funding payment recorded in the window, on every position (grids'
  included), + received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from types import EllipsisType
from typing import Any

from ..aio import cancel_and_wait
from ..storage import Store
from ..strategies.report import position_reports

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
_FLAT = ("closed", "failed")


def next_run(at: time, now: datetime) -> datetime:
    """The next ``at`` (UTC) strictly after ``now``."""
    now = now.astimezone(UTC)
    run = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


async def summary_figures(store: Store, account: str | None | EllipsisType = ...,
                          now: datetime | None = None) -> dict[str, Any]:
    """The summary's figures over the 24 h up to ``now`` (see the module doc); money as decimal
    strings."""
    now = now or datetime.now(UTC)
    since = now - WINDOW
    reports = await position_reports(store, since, account)
    held = [p for p in reports if p["status"] not in _FLAT]
    closed = [p for p in reports if p["status"] in _FLAT and p["closed_at"] is not None
              and datetime.fromisoformat(p["closed_at"]) >= since]
    realized = sum((Decimal(p["pnl"]) for p in closed if p["pnl"] is not None), Decimal(0))
    funding = Decimal(0)
    grids = 0
    for pos in await store.positions(account=account):
        if pos.closed_at is not None and pos.closed_at < since:
            continue
        if (pos.detail or {}).get("kind") == "grid" and pos.status == "open":
            grids += 1
        funding += sum((f.amount for f in await store.funding(pos.id) if f.ts >= since), Decimal(0))
    return {
        "window_h": 24, "open_positions": len(held), "naked": sum(1 for p in held if p["status"] == "naked"),
        "grids": grids, "positions": [f"#{p['id']} {p['symbol']} {p['long_exchange']}/{p['short_exchange']} "
                                      f"{p['status']}" for p in held][:20],
        "closed_positions": len(closed), "realized_pnl_usd": str(realized), "funding_usd": str(funding),
    }


def summary_message(fig: dict[str, Any]) -> str:
    lines = [f"last {fig['window_h']}h: {fig['closed_positions']} pair(s) closed, "
             f"{fig['open_positions']} open" + (f" ({fig['naked']} NAKED)" if fig["naked"] else "")
             + (f", {fig['grids']} grid(s) running" if fig["grids"] else "")]
    lines += [f"  {p}" for p in fig["positions"]]
    return "\n".join(lines)


Publish = Callable[..., Any]


class DailySummary:
    """Publishes the summary of ``store`` (``account``'s positions) through ``publish(message,
    level, kind=..., **figures)`` (the runtime's :meth:`~perpdex.runtime.core.TradingRuntime.event`)
    every day at ``at`` (UTC)."""

    def __init__(self, at: time, store: Store, publish: Publish, account: str | None | EllipsisType = ...,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.at = at
        self.store = store
        self.publish = publish
        self.account = account
        self.clock = clock
        self.sleep = sleep
        self._task: asyncio.Task[None] | None = None

    async def publish_now(self) -> dict[str, Any]:
        """Build and publish one summary now; returns its figures."""
        from ..runtime.events import EventKind

        fig = await summary_figures(self.store, self.account, self.clock())
        self.publish(summary_message(fig), logging.INFO, kind=EventKind.SUMMARY, **fig)
        return fig

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            await self.sleep((next_run(self.at, now) - now).total_seconds())
            try:
                await self.publish_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a summary never stops the bot
                log.warning("daily summary failed: %s", exc)
            await self.sleep(1.0)  # past the minute's start: never twice for one day

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="perpdex-daily-summary")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
