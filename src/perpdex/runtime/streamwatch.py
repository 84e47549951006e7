"""Stream outages as events: every market-data feed and user-data stream of the runtime's clients
watched, a dropped WebSocket published as ``stream_down`` and its return as ``stream_up``.

:class:`StreamWatch` reads each stream's own ``stats()["state"]`` every ``interval_s`` seconds
(no hook in the exchange layer, nothing on the hot path): a stream seen ``connected`` and then
``connecting`` (its socket closed, the stream reconnecting) is down; seen ``connected`` again (or
paused / stopped on purpose) it is up. A stream paused on purpose (the idle market-data policy)
that reconnects on resume is not down. Events carry ``exchange`` and ``stream`` (``feed`` |
``user``) and, for ``stream_up``, ``down_s`` (seconds down, as observed). A stream never
connected yet is not reported (``start_user_streams`` logs those).

Subscribers decide what an outage is worth: the notifier alerts only when a ``stream_down`` is
not followed by ``stream_up`` within ``alerts.stream_down_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Iterator

from .core import TradingRuntime
from .events import EventKind

log = logging.getLogger(__name__)

_DOWN = "connecting"  # a stream that had been connected and is reconnecting


class StreamWatch:
    """Watches the feeds and user streams of ``runtime.clients`` (see the module doc)."""

    def __init__(self, runtime: TradingRuntime, interval_s: float = 1.0) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self._seen: dict[tuple[str, str], str] = {}  # (exchange, stream) -> "up" | "down"
        self._down_since: dict[tuple[str, str], float] = {}
        self._task: asyncio.Task[None] | None = None

    def _streams(self) -> Iterator[tuple[str, str, Any]]:
        for name, client in self.runtime.clients.items():
            feed = getattr(client, "feed", None)
            if feed is not None:
                yield name, "feed", feed
            user = getattr(client, "user_stream", None)
            if user is not None:
                yield name, "user", user

    def check(self) -> None:
        """Compare every stream's state with the last one seen; publish the changes."""
        for exchange, kind, stream in self._streams():
            try:
                state = stream.stats().get("state")
            except Exception:  # noqa: BLE001 - a stream's stats never stop the watch
                log.debug("%s %s: stats unavailable", exchange, kind, exc_info=True)
                continue
            key = (exchange, kind)
            before = self._seen.get(key)
            if state == "connected":
                self._seen[key] = "up"
                if before == "down":
                    self._up(key)
            elif state == _DOWN:
                if before == "up":
                    self._seen[key] = "down"
                    self._down_since[key] = time.monotonic()
                    what = "market-data feed" if kind == "feed" else "user-data stream"
                    self.runtime.event(f"{exchange} {what} disconnected; reconnecting", logging.WARNING,
                                       kind=EventKind.STREAM_DOWN, exchange=exchange, stream=kind)
            else:  # paused or stopped on purpose: not an outage (and the end of one)
                self._seen[key] = "idle"
                if before == "down":
                    self._up(key)

    def _up(self, key: tuple[str, str]) -> None:
        exchange, kind = key
        down_s = time.monotonic() - self._down_since.pop(key, time.monotonic())
        what = "market-data feed" if kind == "feed" else "user-data stream"
        self.runtime.event(f"{exchange} {what} back after {down_s:.1f}s", kind=EventKind.STREAM_UP,
                           exchange=exchange, stream=kind, down_s=round(down_s, 1))

    async def _loop(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watch never dies on a subscriber's or stream's bug
                log.exception("stream watch failed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="perpdex-stream-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
