"""The WebSocket read loop and the up/down state reporting shared by the market-data feeds and
the user-data streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

_END = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def ws_payloads(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[bytes]:
    """The payload of every text (UTF-8 encoded) or binary message, until the socket closes or
    fails; control messages (ping/pong, answered by aiohttp) are skipped."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            yield msg.data.encode()
        elif msg.type == aiohttp.WSMsgType.BINARY:
            yield msg.data
        elif msg.type in _END:
            return


#: ``fn(up, reason)``: a stream's socket came up (``up`` True, reason ``"connected"``) or went down
#: (``up`` False, ``reason`` says why: silent beyond its bound, closed by the server, an error)
StateListener = Callable[[bool, str], None]

#: the default bound (seconds) on a connected stream's silence: no frame and no pong for longer
#: means the socket is dead even though it is open (each exchange sets its own, see docs/RESILIENCE.md)
DEFAULT_SILENCE_S = 30.0


class StreamState:
    """Connected / down reporting shared by the market feeds and the user streams: an exchange
    adapter only reports; the runtime subscribes (:meth:`add_state_listener`) and turns the
    transitions into events.

    ``silence_timeout`` seconds: a connected socket that brings no frame and no pong for longer is
    treated as down and reopened. While no frame arrives, a WebSocket ping is sent after two thirds
    of the bound and its pong awaited for the last third (aiohttp's ``heartbeat``); the opening
    handshake is bounded by it too."""

    exchange: str = ""
    silence_timeout: float = DEFAULT_SILENCE_S

    def _init_state(self, silence_timeout: float | None) -> None:
        if silence_timeout is not None:
            if silence_timeout <= 0:
                raise ValueError(f"[{self.exchange}] silence bound must be positive (got {silence_timeout})")
            self.silence_timeout = float(silence_timeout)
        self._state_listeners: list[StateListener] = []
        self._up: bool | None = None
        #: why the socket last went down (None: never went down)
        self.down_reason: str | None = None
        #: sockets dropped because they were silent beyond ``silence_timeout``
        self.silent_drops = 0

    @property
    def heartbeat(self) -> float:
        """Seconds without any frame before a WebSocket ping is sent (two thirds of the bound)."""
        return self.silence_timeout * 2 / 3

    @property
    def is_up(self) -> bool:
        """True while the socket is connected (not silent, not dropped)."""
        return bool(self._up)

    def add_state_listener(self, fn: StateListener) -> Callable[[], None]:
        """Call ``fn(up, reason)`` on every up/down transition of the socket; returns a remover.
        ``fn`` runs in the stream's task: keep it short, never block."""
        self._state_listeners.append(fn)
        return lambda: self._state_listeners.remove(fn) if fn in self._state_listeners else None

    def set_silence_timeout(self, seconds: float) -> None:
        """Change the silence bound (seconds, > 0); applies from the next (re)connect."""
        if seconds <= 0:
            raise ValueError(f"[{self.exchange}] silence bound must be positive (got {seconds})")
        self.silence_timeout = float(seconds)

    def _report_state(self, up: bool, reason: str) -> None:
        if self._up is up:
            return
        self._up = up
        if not up:
            self.down_reason = reason
        for fn in list(self._state_listeners):
            try:
                fn(up, reason)
            except Exception:  # noqa: BLE001 - a consumer's bug never stops the stream
                logging.getLogger(__name__).exception("%s: stream state listener failed", self.exchange)

    def _end_reason(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Why ``ws`` ended: silent beyond the bound (counted in ``silent_drops``), an error, or
        a close by the server."""
        exc = ws.exception() if hasattr(ws, "exception") else None
        if isinstance(exc, aiohttp.ServerTimeoutError):
            self.silent_drops += 1
            return f"silent for {self.silence_timeout:g}s (no frame, no pong)"
        if exc is not None:
            return f"{type(exc).__name__}: {exc}"
        return f"closed by the server (code {getattr(ws, 'close_code', None)})"

    @contextlib.asynccontextmanager
    async def _open_ws(self, session: Any, url: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """``async with session.ws_connect(url)`` with the silence heartbeat; a handshake that takes
        longer than the silence bound raises ``asyncio.TimeoutError``. ``session`` is an aiohttp
        session or a drop-in (the recording tap, the replay transport)."""
        cm = session.ws_connect(url, heartbeat=self.heartbeat, max_msg_size=0)
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that arrives as the
        # handshake completes, and a feed being closed would go on reading a socket nobody closes
        async with asyncio.timeout(self.silence_timeout):
            ws = await cm.__aenter__()
        try:
            yield ws
        finally:
            await cm.__aexit__(None, None, None)
