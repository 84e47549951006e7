"""One emulator WebSocket client: a bounded send queue drained by its own writer task, so that
the engine (which pushes frames from its event callbacks) never waits on a slow client.

* :meth:`QueuedSocket.push` never blocks; a full queue closes the socket, as a real exchange drops
  a consumer that cannot keep up.
* :meth:`QueuedSocket.stall` holds frames back for a while (the ``stall`` fault): they arrive
  late, in order.
* :meth:`QueuedSocket.finish` queues an end marker: the writer stops after what is queued.
* :meth:`QueuedSocket.push_private` queues a user-data frame under the user-stream faults
  (``dup``: the next fill frame is sent twice; ``user_drop``: the next fill frame is lost and the
  socket closed, so the client has to recover the fill over REST).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 5000
STALL_SECONDS = 2.0  # how long the ``stall`` fault holds a socket's frames back


class QueuedSocket:
    def __init__(self, ws: web.WebSocketResponse, exchange: str, limit: int = DEFAULT_QUEUE_LIMIT,
                 *, binary_bytes: bool = False) -> None:
        """``binary_bytes``: send ``bytes`` frames as binary WebSocket frames (SBE), else as text
        (pre-encoded JSON)."""
        self.ws = ws
        self.binary_bytes = binary_bytes
        self.exchange = exchange
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(limit + 1)
        self.limit = limit
        self.task: asyncio.Task[None] | None = None
        self.overflowed = False
        self.stall_until = 0.0  # loop time until which frames are held back

    def push(self, frame: bytes | str) -> None:
        """Queue ``frame`` (bytes or text, sent as a text frame) without waiting."""
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            log.warning("%s emulator: closing a slow websocket consumer (queue full)", self.exchange)
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    def push_private(self, frame: bytes | str, faults: Any, symbol: str | None = None, *, fill: bool = False) -> None:
        """Queue a private frame; when it carries a fill, apply the armed ``user_drop`` / ``dup``
        faults of ``faults`` (a :class:`~perpdex.sim.faults.Faults`) for ``symbol``."""
        if fill and faults.take("user_drop", symbol):
            log.info("%s emulator: user_drop fault: fill frame lost, private socket closed", self.exchange)
            self.finish()
            return
        self.push(frame)
        if fill and faults.take("dup", symbol):
            self.push(frame)

    def finish(self) -> None:
        """Stop the writer once everything queued so far is sent."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            if self.task is not None:
                self.task.cancel()

    def stall(self, seconds: float) -> None:
        self.stall_until = asyncio.get_running_loop().time() + seconds

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self.run_writer())
        return self.task

    async def run_writer(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                if frame is None or self.ws.closed:
                    break
                held = self.stall_until - asyncio.get_running_loop().time()
                if held > 0:
                    await asyncio.sleep(held)
                if isinstance(frame, bytes):
                    await self.ws.send_frame(frame, aiohttp.WSMsgType.BINARY if self.binary_bytes else aiohttp.WSMsgType.TEXT)
                else:
                    await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            if not self.ws.closed:
                try:
                    await self.ws.close()
                except Exception:  # noqa: BLE001 - already gone
                    pass
