"""User-data streams under the runtime: starting them and keeping them true to the exchange.

A :class:`~perpdex.exchanges.userstream.UserStream` only decodes and reports what its socket
says; frames sent while the socket was down are lost. :class:`StreamReconciler` catches the
stream up over REST after every (re)connect (the stream's ``on_connected`` hook, which fires
once the subscriptions are acknowledged, so anything after the REST read reaches the socket):

* the recent fills of every tracked symbol (``client.fetch_fills``): fills whose frames were lost
  are recovered (``recovered_fills``), known ones are not counted again;
* the state of every order seen but not final, and of every order first met through a recovered
  fill (``client.fetch_order``);
* the position of every tracked symbol (``client.fetch_position``).

Everything goes through ``stream.ingest(..., recovered=True)``: counted once per trade id, never
moving an order backwards. A failure is counted on the stream (``reconcile_errors``) and logged;
the stream keeps going and the next reconnect tries again.

:func:`start_user_streams` starts every client's stream with its reconciler attached. Nothing
here names an exchange.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from decimal import Decimal

from ..errors import PerpdexError
from ..exchanges.base import ExchangeClient
from ..exchanges.userstream import UserStream
from ..models import UserOrderUpdate, UserPositionUpdate

log = logging.getLogger(__name__)

_reconcilers: weakref.WeakKeyDictionary[UserStream, StreamReconciler] = weakref.WeakKeyDictionary()


class StreamReconciler:
    """REST catch-up of ``client``'s user stream ``stream`` (see module doc). :meth:`attach`
    runs it after every (re)connect; :meth:`reconcile` runs it once, now."""

    def __init__(self, client: ExchangeClient, stream: UserStream) -> None:
        self.client = client
        self.stream = stream
        self._remove: Callable[[], None] | None = None

    def attach(self) -> None:
        """Reconcile after every (re)connect of the stream (and now, if it is connected)."""
        if self._remove is None:
            self._remove = self.stream.on_connected(self.reconcile_safely)

    def detach(self) -> None:
        """Stop reconciling on reconnects (a catch-up under way finishes)."""
        if self._remove is not None:
            self._remove()
        self._remove = None

    async def reconcile(self) -> None:
        """One REST catch-up: recent fills of every tracked symbol, the state of every order not
        final (and of orders first met through a recovered fill), the position of every tracked
        symbol; each ingested as recovered (counted once). Counted in the stream's
        ``reconciliations``. Raises the exchange's typed errors (then also counted in
        ``reconcile_errors``)."""
        try:
            await self._catch_up()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stream.record_reconciliation(exc)
            raise
        self.stream.record_reconciliation()

    async def reconcile_safely(self) -> None:
        """:meth:`reconcile`, its errors logged instead of raised (the stream keeps going; the
        next reconnect tries again)."""
        try:
            await self.reconcile()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - counted by reconcile(); never kills the stream
            log.warning("%s user stream: REST reconciliation failed: %s", self.client.name, exc)

    async def _catch_up(self) -> None:
        stream, client = self.stream, self.client
        tracked = sorted(stream.tracked)
        pending = {o.order_id: o.symbol for o in stream.orders() if not o.status.is_final}
        for sym in tracked:
            for f in await client.fetch_fills(sym):
                if stream.ingest(f, recovered=True) and stream.order(f.order_id) is None:
                    pending[f.order_id] = f.symbol  # an order we only know from REST
        for oid, sym in pending.items():
            info = await client.fetch_order(sym, oid)
            if info is None:
                continue
            known = stream.order(oid)
            stream.ingest(UserOrderUpdate(client.name, sym, oid, info.status, info.filled_size, info.remaining_size,
                                          info.average_price, info.side, info.price,
                                          info.client_order_id or (known.client_order_id if known else None),
                                          time.time()), recovered=True)
        for sym in tracked:
            snap = await client.fetch_position(sym)
            qty = snap.quantity if snap is not None else Decimal(0)
            cur = stream.position(sym)
            if cur is None or cur.quantity != qty:
                stream.ingest(UserPositionUpdate(client.name, sym, qty, snap.entry_price if snap else Decimal(0),
                                                 snap.liquidation_price if snap else None,
                                                 snap.mark_price if snap else None,
                                                 snap.unrealized_pnl if snap else None, time.time()), recovered=True)


def attach_reconciler(client: ExchangeClient, stream: UserStream) -> StreamReconciler:
    """The reconciler of ``stream`` (``client``'s), created and attached on first call; later
    calls return the same one (never two catch-ups per reconnect)."""
    rec = _reconcilers.get(stream)
    if rec is None:
        rec = _reconcilers[stream] = StreamReconciler(client, stream)
    rec.attach()
    return rec


def reconciler_of(stream: UserStream) -> StreamReconciler | None:
    """The reconciler attached to ``stream`` by :func:`attach_reconciler`, if any."""
    return _reconcilers.get(stream)


async def start_user_streams(clients: dict[str, ExchangeClient], symbols: Iterable[str] = (),
                             ready_timeout_s: float = 10.0) -> dict[str, UserStream]:
    """Start every client's user-data stream (``client.start_user_stream(symbols)``, idempotent),
    tracking ``symbols``, with a :class:`StreamReconciler` attached, and wait up to
    ``ready_timeout_s`` seconds for each to connect, all exchanges at once. One whose stream
    cannot start is logged and traded with REST fill tracking only; one not connected in time is logged and keeps retrying (reconciled once it connects).
    Returns the started streams by the ``clients`` key (connected or still connecting)."""
    syms = list(symbols)
    started: dict[str, UserStream] = {}

    async def one(key: str, client: ExchangeClient) -> None:
        try:
            stream = await client.start_user_stream(syms)
        except PerpdexError as exc:
            log.warning("%s: user stream not started (%s); fills tracked over REST", client.name, exc)
            return
        attach_reconciler(client, stream)
        started[key] = stream
        if not await stream.wait_connected(ready_timeout_s):
            log.warning("%s: user stream not connected after %.0fs; it keeps retrying, fills tracked over REST "
                        "meanwhile", client.name, ready_timeout_s)

    await asyncio.gather(*(one(k, c) for k, c in clients.items()))
    return started


__all__ = ["StreamReconciler", "attach_reconciler", "reconciler_of", "start_user_streams"]
