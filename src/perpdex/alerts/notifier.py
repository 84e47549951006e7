"""The notifier: the runtime's events in, alerts out on every channel, never in the way of trading.

:meth:`Notifier.on_event` is the event bus's subscriber: it runs in the publisher's task (a
strategy's cycle), so it only filters and hands the alert to a queue, in O(1), never waiting and
never raising. Each channel then has its own lane:

* a bounded ``asyncio.Queue`` (``alerts.queue_size``); when full the oldest alert is dropped and
  counted (``dropped``);
* its own task draining the queue, so a slow or dead receiver only delays its own channel;
* a dedupe window: an alert with the same key (kind and message) as one queued within
  ``alerts.dedupe_window_s`` seconds is suppressed and counted (``suppressed``);
* a rate limit (``rate_limit_per_min``, a leaky bucket from aiolimiter): alerts over it wait in
  the queue (counted once each in ``rate_limited``);
* retries with exponential back-off and jitter (tenacity) for timeouts, connection errors, HTTP
  429 (waiting at least what the receiver asked) and 5xx, ``alerts.retries`` times; an alert
  still not accepted is logged without secrets and counted (``failed``).

Stream outages: a ``stream_down`` event (data ``exchange``, ``stream``) starts a timer; a
``stream_up`` for the same (exchange, stream) within ``alerts.stream_down_s`` cancels it and
nothing is sent. Otherwise a ``stream_down`` alert goes out when the timer fires, and the
``stream_up`` that ends that outage is sent too.

:meth:`Notifier.stats` gives the counters per channel (for ``/health`` and the metrics); nothing in
them is secret. :meth:`Notifier.close` lets the queues drain (``alerts.drain_timeout_s``), then
stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ..runtime.events import Event, EventBus, EventKind
from ..secrets import redact
from .channels import Channel, SendError, build_channel
from .config import AlertsConfig
from .message import Alert

if TYPE_CHECKING:
    from ..runtime.core import TradingRuntime

log = logging.getLogger(__name__)

_SEEN_PRUNE = 2048  # dedupe keys kept per channel before expired ones are pruned


@dataclass
class ChannelStats:
    """Counters of one channel (alerts, not HTTP attempts, except ``retries``)."""

    name: str
    type: str
    sent: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0
    suppressed: int = 0
    rate_limited: int = 0
    queued: int = 0
    last_sent_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None


def _limiter(per_min: float) -> AsyncLimiter:
    # aiolimiter needs a bucket of at least one: below 1/min, one message per 60/per_min seconds
    return AsyncLimiter(per_min, 60.0) if per_min >= 1 else AsyncLimiter(1, 60.0 / per_min)


@dataclass
class _Lane:
    channel: Channel
    kinds: frozenset[str]
    queue: asyncio.Queue[Alert]
    limiter: AsyncLimiter
    stats: ChannelStats
    seen: dict[str, float] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


@dataclass
class _Outage:
    since: datetime
    handle: asyncio.TimerHandle | None
    message: str
    alerted: bool = False


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Notifier:
    """Alerts for ``cfg`` (the ``alerts:`` section) on ``channels`` (default: built from
    ``cfg.channels``). ``clock``: monotonic seconds, for the dedupe window."""

    def __init__(self, cfg: AlertsConfig, channels: list[Channel] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.channels = channels if channels is not None else [build_channel(c) for c in cfg.channels]
        self.clock = clock
        default_kinds = frozenset(str(k) for k in cfg.kinds)
        self._lanes = [
            _Lane(ch, frozenset(ch.kinds) if ch.kinds is not None else default_kinds,
                  asyncio.Queue(maxsize=cfg.queue_size),
                  _limiter(ch.rate_limit_per_min or cfg.rate_limit_per_min),
                  ChannelStats(ch.name, ch.type))
            for ch in self.channels]
        self._outages: dict[tuple[str, str], _Outage] = {}
        self._session: aiohttp.ClientSession | None = None
        self._removers: list[Callable[[], None]] = []
        self._helpers: list[Any] = []  # stream watch, daily summary (stopped on close)
        self._accepting = False

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the HTTP session and start one sending task per channel (idempotent)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for lane in self._lanes:
            if lane.task is None or lane.task.done():
                lane.task = asyncio.create_task(self._drain(lane), name=f"perpdex-alerts-{lane.channel.name}")
        self._accepting = True

    def attach(self, bus: EventBus) -> None:
        """Receive every event published on ``bus`` from now on."""
        self._removers.append(bus.subscribe(self.on_event))

    async def start_for(self, runtime: TradingRuntime) -> None:
        """:meth:`start`, subscribed to ``runtime.events`` (stream outages arrive there from the
        runtime's exchange health, :mod:`perpdex.runtime.health`); with
        ``alerts.daily_summary_utc`` the daily summary is published on the bus."""
        await self.start()
        self.attach(runtime.events)
        at = self.cfg.summary_time
        if at is not None:
            from .summary import DailySummary

            summary = DailySummary(at, runtime.store, runtime.event, runtime.account)
            summary.start()
            self._helpers.append(summary)

    async def close(self, timeout_s: float | None = None) -> None:
        """Stop taking events, let the queues drain for up to ``timeout_s`` seconds (default
        ``alerts.drain_timeout_s``), then stop; alerts still queued are counted as dropped."""
        self._accepting = False
        for remove in self._removers:
            remove()
        self._removers.clear()
        for helper in self._helpers:
            with contextlib.suppress(Exception):
                await helper.stop()
        self._helpers.clear()
        for outage in self._outages.values():
            if outage.handle is not None:
                outage.handle.cancel()
        self._outages.clear()
        timeout = self.cfg.drain_timeout_s if timeout_s is None else timeout_s
        pending = [lane.queue.join() for lane in self._lanes if lane.task is not None]
        if pending:
            try:
                await asyncio.wait_for(asyncio.gather(*pending), timeout)
            except TimeoutError:
                log.warning("alerts: %d alert(s) not sent within %.0fs at exit", self.queued(), timeout)
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
                lane.task = None
            while not lane.queue.empty():
                lane.queue.get_nowait()
                lane.queue.task_done()
                lane.stats.dropped += 1
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- in: events --------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        """The bus subscriber (see the module doc): never blocks, never raises."""
        try:
            if ev.kind is EventKind.STREAM_DOWN:
                self._stream_down(ev)
            elif ev.kind is EventKind.STREAM_UP:
                self._stream_up(ev)
            else:
                self.submit(Alert.from_event(ev))
        except Exception:  # noqa: BLE001 - an alert's bug never reaches the strategy
            log.exception("alerts: event not handled")

    def submit(self, alert: Alert) -> None:
        """Queue ``alert`` on every channel that takes its kind (dedupe window, drop-oldest)."""
        if not self._accepting:
            return
        now = self.clock()
        window = self.cfg.dedupe_window_s
        key = alert.dedupe_key
        for lane in self._lanes:
            if alert.kind not in lane.kinds:
                continue
            last = lane.seen.get(key)
            if window > 0 and last is not None and now - last < window:
                lane.stats.suppressed += 1
                continue
            lane.seen[key] = now
            if len(lane.seen) > _SEEN_PRUNE:
                lane.seen = {k: t for k, t in lane.seen.items() if now - t < window}
            if lane.queue.full():
                lane.queue.get_nowait()
                lane.queue.task_done()
                lane.stats.dropped += 1
            lane.queue.put_nowait(alert)

    # -- stream outages ----------------------------------------------------------------------------
    @staticmethod
    def _stream_key(ev: Event) -> tuple[str, str]:
        return str(ev.data.get("exchange", "?")), str(ev.data.get("stream", "?"))

    def _stream_down(self, ev: Event) -> None:
        key = self._stream_key(ev)
        if key in self._outages or not self._accepting:
            return  # already down: the first report starts the clock
        loop = asyncio.get_running_loop()
        outage = _Outage(ev.ts, None, ev.message)
        outage.handle = loop.call_later(self.cfg.stream_down_s, self._still_down, key, ev)
        self._outages[key] = outage

    def _still_down(self, key: tuple[str, str], ev: Event) -> None:
        outage = self._outages.get(key)
        if outage is None:
            return
        outage.alerted = True
        exchange, stream = key
        since = outage.since.astimezone(UTC).strftime("%H:%M:%S UTC")
        self.submit(Alert(EventKind.STREAM_DOWN.value,
                          f"{exchange} {stream} stream down for more than {self.cfg.stream_down_s:g}s "
                          f"(since {since}): {outage.message}", logging.WARNING, strategy=ev.strategy,
                          data={**ev.data, "exchange": exchange, "stream": stream, "since": outage.since.isoformat(),
                                "down_s": self.cfg.stream_down_s},
                          key=f"stream_down|{exchange}|{stream}"))

    def _stream_up(self, ev: Event) -> None:
        key = self._stream_key(ev)
        outage = self._outages.pop(key, None)
        if outage is None:
            return
        if outage.handle is not None:
            outage.handle.cancel()
        if outage.alerted:
            exchange, stream = key
            down_s = (ev.ts - outage.since).total_seconds()
            self.submit(Alert(EventKind.STREAM_UP.value, f"{exchange} {stream} stream back up after {down_s:.0f}s",
                              strategy=ev.strategy, ts=ev.ts,
                              data={**ev.data, "exchange": exchange, "stream": stream, "down_s": round(down_s, 1)},
                              key=f"stream_up|{exchange}|{stream}"))

    def streams_down(self) -> list[dict[str, Any]]:
        """Outages under way: exchange, stream, since (UTC ISO), alerted (the alert went out)."""
        return [{"exchange": ex, "stream": st, "since": o.since.isoformat(), "alerted": o.alerted}
                for (ex, st), o in self._outages.items()]

    # -- out: sending ------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        base = wait_exponential_jitter(initial=self.cfg.retry_backoff_s, max=self.cfg.retry_backoff_max_s,
                                       jitter=self.cfg.retry_backoff_s / 2)(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        # a receiver's Retry-After is honoured, within the back-off cap (never stalls a lane for long)
        return max(base, min(float(asked), self.cfg.retry_backoff_max_s)) if asked else base

    async def _send(self, lane: _Lane, alert: Alert) -> None:
        """Send with retries; raises the last :class:`SendError`."""
        assert self._session is not None

        def before_sleep(state: RetryCallState) -> None:
            lane.stats.retries += 1
            exc = state.outcome.exception() if state.outcome is not None else None
            log.info("alerts: %s: attempt %d failed (%s); retrying", lane.channel.name, state.attempt_number, exc)

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.cfg.retries + 1), wait=self._wait, reraise=True,
            retry=retry_if_exception(lambda e: isinstance(e, SendError) and e.retryable),
            before_sleep=before_sleep,
        ):
            with attempt:
                await lane.channel.send(self._session, alert)

    async def _deliver(self, lane: _Lane, alert: Alert) -> str | None:
        """One alert on one lane, counted; None when sent, else the error (no secrets)."""
        try:
            await self._send(lane, alert)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing channel is counted, never raised
            text = str(exc) if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}"
            text = redact(text, lane.channel.secrets())[:300]
            lane.stats.failed += 1
            lane.stats.last_error, lane.stats.last_error_at = text, _now_iso()
            log.warning("alerts: %s: %s alert not sent: %s", lane.channel.name, alert.kind, text)
            return text
        lane.stats.sent += 1
        lane.stats.last_sent_at = _now_iso()
        return None

    async def _drain(self, lane: _Lane) -> None:
        while True:
            alert = await lane.queue.get()
            try:
                if not lane.limiter.has_capacity():
                    lane.stats.rate_limited += 1
                await lane.limiter.acquire()
                await self._deliver(lane, alert)
            finally:
                lane.queue.task_done()

    async def send_test(self, message: str = "perpdex alerts test: this channel works") -> dict[str, str | None]:
        """Send one ``info`` alert to every channel now (no queue, dedupe or rate limit; with
        retries); channel name -> None when accepted, else the error (no secrets)."""
        opened = self._session is None
        if opened:
            self._session = aiohttp.ClientSession()
        try:
            alert = Alert(EventKind.INFO.value, message)
            results = await asyncio.gather(*(self._deliver(lane, alert) for lane in self._lanes))
            return {lane.channel.name: r for lane, r in zip(self._lanes, results)}
        finally:
            if opened and self._session is not None:
                await self._session.close()
                self._session = None

    # -- counters ----------------------------------------------------------------------------------
    def queued(self) -> int:
        return sum(lane.queue.qsize() for lane in self._lanes)

    def stats(self) -> dict[str, Any]:
        """``{"running", "channels": [{name, type, sent, failed, retries, dropped, suppressed,
        rate_limited, queued, last_sent_at, last_error, last_error_at}], "streams_down": [...]}``."""
        out = []
        for lane in self._lanes:
            lane.stats.queued = lane.queue.qsize()
            out.append(asdict(lane.stats))
        running = any(lane.task is not None and not lane.task.done() for lane in self._lanes)
        return {"running": running, "channels": out, "streams_down": self.streams_down()}

    def secret_values(self) -> list[str]:
        """Every secret of every channel (for the logging filter :func:`perpdex.accounts.redact_logs`)."""
        return [s for ch in self.channels for s in ch.secrets()]
