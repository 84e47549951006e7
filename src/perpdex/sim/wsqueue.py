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
* :meth:`QueuedSocket.silence` makes the socket go silent without closing, as a stalled
  exchange does: no frame is sent, nothing the client sends is read (so its pings get no pong)
  and the server's own pings stop; after ``seconds`` the connection is cut (TCP abort).
  :func:`silence_sockets` silences the open sockets of one exchange (or the one connected from a
  given client port); :meth:`perpdex.sim.server.EmulatorCluster.silence` is the same for a
  running cluster.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 5000
STALL_SECONDS = 2.0  # how long the ``stall`` fault holds a socket's frames back
SILENCE_SECONDS = 300.0  # how long a silenced socket stays open before the connection is cut

#: every emulator socket with a running writer, by exchange (silence_sockets looks them up)
_LIVE: dict[str, weakref.WeakSet[QueuedSocket]] = {}


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
        self.silenced = False
        self._cut: asyncio.TimerHandle | None = None

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

    def _transport(self) -> asyncio.Transport | None:
        req = getattr(self.ws, "_req", None)  # the request the socket was prepared with
        return getattr(req, "transport", None)

    def peer_port(self) -> int | None:
        """The client's TCP port (its socket's local port), None once disconnected."""
        transport = self._transport()
        peer = transport.get_extra_info("peername") if transport is not None else None
        return peer[1] if peer else None

    def silence(self, seconds: float = SILENCE_SECONDS) -> None:
        """Go silent without closing (see module doc): frames are held, the client's frames are
        not read (its pings get no pong), the server's heartbeat stops; after ``seconds`` the
        connection is cut without a close frame."""
        self.silenced = True
        self.stall_until = float("inf")
        cancel_heartbeat = getattr(self.ws, "_cancel_heartbeat", None)
        if cancel_heartbeat is not None:
            cancel_heartbeat()
            self.ws._heartbeat = None  # aiohttp's private heartbeat handle: no server ping while silent
        transport = self._transport()
        if transport is not None:
            transport.pause_reading()
            self._cut = asyncio.get_running_loop().call_later(seconds, self.cut)
        log.info("%s emulator: socket from port %s silenced for %.0fs", self.exchange, self.peer_port(), seconds)

    def cut(self) -> None:
        """Drop the connection at once (no close frame): how a silenced socket ends."""
        if self._cut is not None:
            self._cut.cancel()
            self._cut = None
        transport = self._transport()
        if transport is not None and not transport.is_closing():
            transport.abort()
        if self.task is not None:
            self.task.cancel()

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self.run_writer())
        _LIVE.setdefault(self.exchange, weakref.WeakSet()).add(self)
        return self.task

    async def run_writer(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                if frame is None or self.ws.closed:
                    break
                held = self.stall_until - asyncio.get_running_loop().time()
                if held == float("inf"):
                    await asyncio.Event().wait()  # silenced: nothing more is ever sent
                if held > 0:
                    await asyncio.sleep(held)
                if isinstance(frame, bytes):
                    await self.ws.send_frame(frame, aiohttp.WSMsgType.BINARY if self.binary_bytes else aiohttp.WSMsgType.TEXT)
                else:
                    await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            _LIVE.get(self.exchange, weakref.WeakSet()).discard(self)
            if self.silenced:
                self.cut()
            elif not self.ws.closed:
                try:
                    await self.ws.close()
                except Exception:  # noqa: BLE001 - already gone
                    pass


def silence_sockets(exchange: str, *, peer_port: int | None = None, seconds: float = SILENCE_SECONDS) -> int:
    """Silence (:meth:`QueuedSocket.silence`) every open emulator socket of ``exchange``, or only
    the one whose client connected from ``peer_port``; returns how many were silenced."""
    count = 0
    for sock in list(_LIVE.get(exchange, ())):
        if sock.silenced or (peer_port is not None and sock.peer_port() != peer_port):
            continue
        sock.silence(seconds)
        count += 1
    return count


def cut_silenced(exchange: str | None = None) -> None:
    """Cut the connection of every silenced socket (of ``exchange``, or all): a cluster that
    stops does not wait for them."""
    for name, socks in list(_LIVE.items()):
        if exchange is None or name == exchange:
            for sock in list(socks):
                if sock.silenced:
                    sock.cut()
