"""The emulator base class every venue builds on: it listens to the engine, runs the stream pump,
serves each WebSocket session and closes everything on :meth:`StreamingEmulator.close`.

What a venue writes on top (the hooks):

* ``_on_book`` / ``_on_order`` / ``_on_funding`` (and ``_on_funding_rate`` if it needs
  settlements) — one engine event of that kind turned into pushes;
* ``_open_sockets()`` — every open socket (what ``close()`` closes, what the ``stall`` and
  ``drop`` faults reach unless ``_fault_sockets()`` says otherwise);
* ``_pump_tick(tick)`` — the periodic work of one pump tick (every ``PUMP_SECONDS``), calling
  :meth:`StreamingEmulator._socket_faults` where the venue applies ``drop`` / ``stall``;
* its WebSocket handlers, which build the ``WebSocketResponse`` and the socket (a
  :class:`~perpdex.sim.wsqueue.QueuedSocket`) and hand both to :meth:`StreamingEmulator._serve`
  with the venue's frame handlers.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import TypeVar

from aiohttp import WSMsgType, web

from ....aio import cancel_and_wait
from ...engine import BookEvent, Event, FundingEvent, FundingRateEvent, OrderEvent, Venue
from ...wsqueue import STALL_SECONDS, QueuedSocket

log = logging.getLogger(__name__)

S = TypeVar("S", bound=QueuedSocket)

WRITER_GRACE_SECONDS = 2.0  # a session that ended: how long its writer may take to stop
CLOSE_SECONDS = 1.0  # close(): how long one socket's closing handshake may take


class StreamingEmulator(abc.ABC):
    """Engine subscription, stream pump, WebSocket sessions and shutdown of one emulated venue.

    Class attributes a venue sets: ``EXCHANGE`` (its name, for logs); ``PUMP_SECONDS`` (the pump
    period, 50 ms unless set); ``DROP_FLUSHES`` — how the ``drop`` fault closes a socket: False
    closes it at once (queued frames are lost), True lets its writer send what is queued first."""

    EXCHANGE = ""
    PUMP_SECONDS = 0.05
    DROP_FLUSHES = False

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self._pump_task: asyncio.Task[None] | None = None
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = venue.subscribe(self._on_event)

    # -- engine events ----------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        """Hand one engine event to the hook of its kind."""
        if isinstance(ev, BookEvent):
            self._on_book(ev)
        elif isinstance(ev, OrderEvent):
            self._on_order(ev)
        elif isinstance(ev, FundingEvent):
            self._on_funding(ev)
        elif isinstance(ev, FundingRateEvent):
            self._on_funding_rate(ev)

    @abc.abstractmethod
    def _on_book(self, ev: BookEvent) -> None:
        """A book change (levels, sequence numbers): the venue's market-data pushes."""

    @abc.abstractmethod
    def _on_order(self, ev: OrderEvent) -> None:
        """An order update, with its fill if any: the venue's private (and trade) pushes."""

    @abc.abstractmethod
    def _on_funding(self, ev: FundingEvent) -> None:
        """A funding payment of one account."""

    def _on_funding_rate(self, ev: FundingRateEvent) -> None:
        """A funding settlement of one market (the rate applied)."""
        return None  # only a venue that shows past settlements needs them

    # -- hooks ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _open_sockets(self) -> list[QueuedSocket]:
        """Every open WebSocket of this emulator (the venue's)."""

    def _fault_sockets(self) -> list[QueuedSocket]:
        """The sockets the ``drop`` and ``stall`` faults reach: all of them unless the venue says."""
        return self._open_sockets()

    @abc.abstractmethod
    async def _pump_tick(self, tick: int) -> None:
        """One pump tick (``tick`` counts from 1): the venue's periodic pushes, and
        ``await self._socket_faults()`` where the venue applies them."""

    # -- the pump ---------------------------------------------------------------------------------
    def _start_pump(self) -> None:
        """Start the pump task unless it runs or the emulator is closing (idempotent)."""
        if self._pump_task is None and not self._closing:
            self._pump_task = asyncio.get_running_loop().create_task(
                self._pump_loop(), name=f"{self.EXCHANGE}-emulator-pump")

    async def _start_pump_on_startup(self, _app: web.Application) -> None:
        """``app.on_startup`` hook of a venue whose pump runs from the start, with or without sockets."""
        self._start_pump()

    async def _pump_loop(self) -> None:
        """Every ``PUMP_SECONDS``: :meth:`_pump_tick`; an error is logged and the pump goes on."""
        for tick in itertools.count(1):
            await asyncio.sleep(self.PUMP_SECONDS)
            try:
                await self._pump_tick(tick)
            except Exception:  # noqa: BLE001 - keep streaming
                log.exception("%s emulator: stream pump failed", self.EXCHANGE)

    async def _socket_faults(self) -> None:
        """Apply the armed ``drop`` fault (every socket closed, see ``DROP_FLUSHES``) and ``stall``
        fault (every socket's frames held back ``STALL_SECONDS``, then sent in order)."""
        faults = self.venue.faults
        if faults.take("drop"):
            for sock in self._fault_sockets():
                if self.DROP_FLUSHES:
                    sock.finish()  # the writer sends what is queued, then closes the socket
                else:
                    await sock.ws.close()
        if faults.take("stall"):
            for sock in self._fault_sockets():
                sock.stall(STALL_SECONDS)

    # -- sessions ---------------------------------------------------------------------------------
    async def _serve(self, request: web.Request, ws: web.WebSocketResponse, sock: S, sockets: set[S], *,
                     on_text: Callable[[S, str], None] | None = None,
                     on_binary: Callable[[S, bytes], None] | None = None,
                     on_open: Callable[[S], None] | None = None, pump: bool = True) -> web.WebSocketResponse:
        """Serve one WebSocket session: prepare ``ws``, start ``sock``'s writer, keep ``sock`` in
        ``sockets`` while the session lasts, make sure the pump runs (unless ``pump`` is False: a
        session the pump never serves), call ``on_open(sock)``, then hand each text / binary
        frame the client sends to ``on_text`` / ``on_binary`` (a frame without a handler is
        ignored). When the client goes (or the socket fails) ``sock`` leaves ``sockets`` and its
        writer stops. Returns ``ws`` (the handler's answer)."""
        await ws.prepare(request)
        sock.start()
        sockets.add(sock)
        if pump:
            self._start_pump()
        try:
            if on_open is not None:
                on_open(sock)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if on_text is not None:
                        on_text(sock, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    if on_binary is not None:
                        on_binary(sock, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            sockets.discard(sock)
            await _stop_writer(sock)
        return ws

    # -- shutdown ---------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop listening to the venue, stop the pump and close every WebSocket."""
        self._closing = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_and_wait(self._pump_task)
        self._pump_task = None
        for sock in self._open_sockets():
            sock.finish()
            try:
                await asyncio.wait_for(sock.ws.close(), CLOSE_SECONDS)
            except Exception:  # noqa: BLE001 - shutting down: a socket that will not close is left
                pass
            if sock.task is not None:
                sock.task.cancel()


async def _stop_writer(sock: QueuedSocket) -> None:
    """End ``sock``'s writer after its session: it stops at the end marker (or at once, the socket
    being closed); one that has not stopped after ``WRITER_GRACE_SECONDS`` is cancelled."""
    sock.finish()
    if sock.task is not None:
        try:
            await asyncio.wait_for(sock.task, WRITER_GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            sock.task.cancel()
