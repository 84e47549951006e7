"""Which exchanges are up, and what the bot does about the ones that are not.

An exchange adapter only reports: its market feed and user stream say when their socket comes up
or goes down (silent beyond the exchange's bound, closed, refused: see
:class:`perpdex.exchanges.ws.StreamState`), a call raises the exchange's typed error. The runtime
turns that into state and events here:

* a feed or user stream that goes down publishes ``stream_down`` (data: exchange, stream ``"feed"``
  or ``"user"``, reason) and ``stream_up`` when it is back; the stream reconnects by itself and a
  user stream is caught up over REST on every reconnect (:mod:`.streams`);
* an exchange whose catalog or funding cannot be reached, or whose feed or user stream stays down
  longer than ``stream_grace_s``, is **down**: logged once with its name and the reason, published
  as ``exchange_down``, probed again with back-off (``retry_initial_s`` doubling to
  ``retry_max_s``, ±20 % jitter: the client's ``connect()``, i.e. its catalog, and the stream that
  was down), and ``exchange_up`` when a probe succeeds;
* strategies leave a down exchange out of scanning and new entries, and keep a position with a leg
  on it as it is (no one-sided close) until it returns.

Nothing here names an exchange.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..aio import cancel_and_wait, jittered
from ..errors import ConfigError, DependencyMissing, PerpdexError
from ..exchanges.base import ExchangeClient
from .events import EventKind

log = logging.getLogger(__name__)

#: ``publish(message, level, kind=..., **data)``: how health reports (``TradingRuntime.event``)
Publish = Callable[..., None]


class _Watched(NamedTuple):
    """A stream whose state changes are turned into events, and how to stop listening."""

    stream: Any
    remove: Callable[[], None]


class NotEnoughExchanges(PerpdexError):
    """Fewer exchanges are up than the bot needs to start; the message says which are down and why."""


@dataclass
class ExchangeStatus:
    """One exchange: ``up``; while down, ``reason``, ``since`` (epoch s), the number of failed
    probes and the monotonic time of the next one."""

    name: str
    up: bool = True
    reason: str | None = None
    since: float | None = None
    failures: int = 0
    next_probe: float = 0.0
    stream: str | None = None  # "feed" / "user" when a stream put it down

    def as_dict(self) -> dict[str, Any]:
        return {"exchange": self.name, "up": self.up, "reason": self.reason, "since": self.since,
                "failed_probes": self.failures}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "") or type(exc).__name__


class ExchangeHealth:
    """Up/down state of ``clients`` (by exchange name), reported through ``publish``."""

    def __init__(self, clients: dict[str, ExchangeClient], publish: Publish, *, retry_initial_s: float = 5.0,
                 retry_max_s: float = 300.0, stream_grace_s: float = 60.0, connect_timeout_s: float = 30.0) -> None:
        self.clients = clients
        self.publish = publish
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stream_grace_s = stream_grace_s
        self.connect_timeout_s = connect_timeout_s
        self.status: dict[str, ExchangeStatus] = {n: ExchangeStatus(n) for n in clients}
        self._stream_down: dict[tuple[str, str], tuple[float, str]] = {}  # (exchange, stream) -> (since, reason)
        self._stream_reported: set[tuple[str, str]] = set()
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._on_up: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None

    # -- queries -------------------------------------------------------------------------------
    def is_up(self, name: str) -> bool:
        st = self.status.get(name)
        return st is None or st.up

    def up(self) -> list[str]:
        """The names of the exchanges that are up, in config order."""
        return [n for n, st in self.status.items() if st.up]

    def down(self) -> dict[str, str]:
        """Exchange -> why it is down."""
        return {n: st.reason or "down" for n, st in self.status.items() if not st.up}

    def summary(self) -> dict[str, Any]:
        """``{"up": [...], "down": {name: reason}, "exchanges": [status...]}`` (JSON ready)."""
        return {"up": self.up(), "down": self.down(), "exchanges": [st.as_dict() for st in self.status.values()]}

    def on_up(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(exchange)`` when a down exchange comes back."""
        self._on_up.append(fn)

    # -- transitions -----------------------------------------------------------------------------
    def mark_down(self, name: str, reason: str, *, stream: str | None = None) -> None:
        """``name`` cannot be reached (``reason``, one line): logged and published once; probed
        again with back-off. Marking a down exchange down again changes nothing."""
        st = self.status.get(name)
        if st is None or not st.up:
            return
        st.up, st.reason, st.since, st.failures, st.stream = False, reason, time.time(), 0, stream
        st.next_probe = time.monotonic() + jittered(self.retry_initial_s)
        self.publish(f"{name} is down: {reason}; left out of scanning and new entries, retried with back-off",
                     logging.WARNING, kind=EventKind.EXCHANGE_DOWN, exchange=name, reason=reason)

    def mark_up(self, name: str) -> None:
        st = self.status.get(name)
        if st is None or st.up:
            return
        down_s = time.time() - (st.since or time.time())
        st.up, st.reason, st.since, st.failures, st.stream = True, None, None, 0, None
        self.publish(f"{name} is back after {down_s:.0f}s", logging.WARNING, kind=EventKind.EXCHANGE_UP,
                     exchange=name, down_s=round(down_s, 1))
        for fn in list(self._on_up):
            try:
                fn(name)
            except Exception:  # noqa: BLE001 - a consumer's bug never stops the health loop
                log.exception("exchange-up callback failed")

    def report_failure(self, name: str, exc: BaseException | str) -> None:
        """A call to ``name`` failed in a way that means it cannot be reached (catalog, funding):
        mark it down with the error's first line."""
        self.mark_down(name, exc if isinstance(exc, str) else _one_line(exc))

    # -- connecting ------------------------------------------------------------------------------
    async def connect_all(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """``connect()`` every client (all at once, each bounded by ``connect_timeout_s``); one
        that fails is marked down. Returns exchange -> reason for the failed ones."""
        names = list(names if names is not None else self.clients)

        async def one(name: str) -> tuple[str, str | None]:
            try:
                await asyncio.wait_for(self.clients[name].connect(), self.connect_timeout_s)
            except TimeoutError:
                return name, f"no answer within {self.connect_timeout_s:g}s"
            except (DependencyMissing, ConfigError):
                raise  # a broken install or config is not an outage: refuse at start, naming the fix
            except (PerpdexError, OSError) as exc:
                return name, _one_line(exc)
            return name, None

        failed = {n: r for n, r in await asyncio.gather(*(one(n) for n in names)) if r is not None}
        for name, reason in failed.items():
            self.mark_down(name, reason)
        return failed

    # -- streams ---------------------------------------------------------------------------------
    def watch_streams(self) -> None:
        """Listen to every client's feed and user stream (those started so far; call again after
        starting more): their up/down transitions become ``stream_down``/``stream_up`` events.
        Idempotent."""
        for name, client in self.clients.items():
            for kind, stream in (("feed", client.feed), ("user", client.user_stream)):
                if stream is None or not hasattr(stream, "add_state_listener"):
                    continue
                key = (name, kind)
                known = self._watched.get(key)
                if known is not None and known.stream is stream:
                    continue
                if known is not None:
                    known.remove()
                remove = stream.add_state_listener(functools.partial(self._stream_state, name, kind))
                self._watched[key] = _Watched(stream, remove)

    def _stream_state(self, name: str, kind: str, up: bool, reason: str) -> None:
        key = (name, kind)
        what = "market feed" if kind == "feed" else "user stream"
        if not up:
            self._stream_down.setdefault(key, (time.monotonic(), reason))
            self._stream_reported.add(key)
            self.publish(f"{name} {what} down: {reason}; reconnecting"
                         + ("" if kind == "feed" else ", REST reconciliation on reconnect"), logging.WARNING,
                         kind=EventKind.STREAM_DOWN, exchange=name, stream=kind, reason=reason)
            return
        self._stream_down.pop(key, None)
        if key in self._stream_reported:  # only a stream reported down is reported back up
            self._stream_reported.discard(key)
            self.publish(f"{name} {what} back up", logging.INFO, kind=EventKind.STREAM_UP, exchange=name,
                         stream=kind, reason=reason)

    def stream_is_down(self, name: str, kind: str) -> bool:
        return (name, kind) in self._stream_down

    # -- the probe loop ----------------------------------------------------------------------------
    def start(self, tick_s: float = 1.0) -> None:
        """Run the probe loop (idempotent): every ``tick_s`` s, streams down beyond the grace put
        their exchange down, and down exchanges whose back-off is over are probed."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(tick_s), name="exchange-health")

    async def stop(self) -> None:
        for watched in self._watched.values():
            watched.remove()
        self._watched.clear()
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self, tick_s: float) -> None:
        while True:
            await asyncio.sleep(tick_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the health loop never dies
                log.exception("exchange health check failed")

    async def tick(self) -> None:
        """One round of the probe loop (see :meth:`start`)."""
        now = time.monotonic()
        for (name, kind), (since, reason) in list(self._stream_down.items()):
            if now - since >= self.stream_grace_s and self.is_up(name):
                what = "market feed" if kind == "feed" else "user stream"
                self.mark_down(name, f"{what} down for {now - since:.0f}s ({reason})", stream=kind)
        due = [st for st in self.status.values() if not st.up and now >= st.next_probe]
        await asyncio.gather(*(self._probe(st) for st in due))

    async def _probe(self, st: ExchangeStatus) -> None:
        try:
            await asyncio.wait_for(self.clients[st.name].connect(), self.connect_timeout_s)
            if st.stream is not None and self.stream_is_down(st.name, st.stream):
                raise PerpdexError(f"its {'market feed' if st.stream == 'feed' else 'user stream'} is still down")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed probe only delays the next one
            st.failures += 1
            delay = min(self.retry_initial_s * 2 ** st.failures, self.retry_max_s)
            st.next_probe = time.monotonic() + jittered(delay)
            reason = "no answer" if isinstance(exc, asyncio.TimeoutError) else _one_line(exc)
            log.info("%s still down (%s); next try in %.0fs", st.name, reason, delay)
            return
        self.mark_up(st.name)


__all__ = ["ExchangeHealth", "ExchangeStatus", "NotEnoughExchanges"]
