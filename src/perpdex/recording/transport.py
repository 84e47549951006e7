"""The replay transport: a drop-in for the ``aiohttp.ClientSession`` under a market feed and its
client that serves one exchange's recording instead of the network, so the live parser, sync
and gap detection run unchanged on the recorded bytes.

* ``ws_connect`` opens the next recorded connection; iterating the socket yields its recorded
  messages in order (as binary messages: the feed sees the same bytes it saw live); the
  connection ends where the recording closed it; sends are accepted and ignored.
* ``get`` answers with the recorded response to the same URL and parameters, handed over at the
  point of the record stream where it was received live (the frames before it were processed
  first, as they were live).

:class:`ReplayCursor` walks the records (one exchange, its files in order) and, with ``speed``,
paces them on the recording's receive times (``speed`` x real time; None: as fast as the feed
consumes them). When the records are exhausted :attr:`ReplayCursor.done` is set and the socket
stays open, silent, so the books stay as they were at the end of the recording.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from . import format as fmt

log = logging.getLogger(__name__)

_YIELD_EVERY = 256  # at max speed, let other tasks run every this many frames
_REST_CLAIM_WAIT_S = 2.0  # how long a recorded response waits for the request that fetched it


class ReplayClock:
    """Maps recording time to loop time: record ``ts_ns`` is due ``(ts_ns - origin_ns) / speed``
    seconds after :meth:`start`. ``speed`` None: never wait. Shared by the cursors of one replay
    so exchanges stay aligned."""

    def __init__(self, origin_ns: int, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.origin_ns = origin_ns
        self.speed = speed
        self._t0: float | None = None

    def start(self) -> None:
        if self._t0 is None:
            self._t0 = asyncio.get_running_loop().time()

    async def wait_until(self, ts_ns: int) -> None:
        if self.speed is None:
            return
        self.start()
        assert self._t0 is not None
        delay = (ts_ns - self.origin_ns) / 1e9 / self.speed - (asyncio.get_running_loop().time() - self._t0)
        if delay > 0:
            await asyncio.sleep(delay)


    async def wait_request(self, ts_ns: int) -> None:
        """Before a recorded REST answer is handed to a request made while no connection is open
        (the catalog and setup reads of :func:`~.replay.open_replay`): as :meth:`wait_until`."""
        await self.wait_until(ts_ns)


class SteppedClock(ReplayClock):
    """A clock the caller moves: records received after :attr:`limit_ns` wait until
    :meth:`advance` moves the limit past them (the setup reads, :meth:`wait_request`, never
    wait). Drives :meth:`~.replay.Replay.advance_to`: "the books as they were at time T"."""

    def __init__(self, origin_ns: int) -> None:
        super().__init__(origin_ns, 1.0)  # a speed, so the sockets consult the clock
        self.limit_ns = origin_ns - 1
        self._moved = asyncio.Event()

    async def wait_until(self, ts_ns: int) -> None:
        while ts_ns > self.limit_ns:
            await self._moved.wait()

    async def wait_request(self, ts_ns: int) -> None:
        return None

    def advance(self, limit_ns: int) -> None:
        """Let every record received at or before ``limit_ns`` through."""
        self.limit_ns = max(self.limit_ns, limit_ns)
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


def _key(url: str, params: dict[str, Any] | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    return url, tuple(sorted((str(k), str(v)) for k, v in (params or {}).items()))


class ReplayCursor:
    """One exchange's records in order (``files``), read lazily. Counters: ``frames`` and
    ``rest`` delivered, ``rest_unclaimed`` (a recorded response no request asked for),
    ``connections`` opened, ``errors`` (damaged parts, see :class:`~.format.ReadError`)."""

    def __init__(self, files: Iterable[str | Path], clock: ReplayClock) -> None:
        self.errors: list[fmt.ReadError] = []
        self._blocks: Iterator[list[fmt.Record]] = itertools.chain.from_iterable(
            fmt.read_blocks(f, self._on_error) for f in files)
        self.clock = clock
        self._block: list[fmt.Record] = []
        self._i = 0
        self.next: fmt.Record | None = None
        self.done = asyncio.Event()
        self.frames = 0
        self.rest = 0
        self.rest_unclaimed = 0
        self.connections = 0
        self.active_conn: int | None = None
        self._waiters: dict[tuple[Any, ...], deque[asyncio.Future[tuple[int, bytes]]]] = {}
        self._load()

    def _on_error(self, err: fmt.ReadError) -> None:
        self.errors.append(err)
        log.warning("replay: %s; going on from the next valid record", err)

    def advance(self) -> None:
        """Move to the next record (:attr:`next` None and :attr:`done` set at the end)."""
        i = self._i + 1
        if i < len(self._block):
            self._i = i
            self.next = self._block[i]
        else:
            self._load()

    def _load(self) -> None:
        for block in self._blocks:
            if block:
                self._block, self._i, self.next = block, 0, block[0]
                return
        self._block, self._i, self.next = [], 0, None
        self.done.set()

    # -- REST ------------------------------------------------------------------------------------
    async def request(self, url: str, params: dict[str, Any] | None) -> tuple[int, bytes]:
        """(status, body) of the recorded answer to GET ``url`` with ``params``; raises
        ``aiohttp.ClientConnectionError`` when the recording has none left."""
        key = _key(url, params)
        rec = self.next
        if rec is not None and rec[0] == fmt.REST and self.active_conn is None:
            meta, body = fmt.split_rest(rec[3])
            if _key(meta.url, meta.params) == key:  # nothing else is reading: take it now
                await self.clock.wait_request(rec[1])
                self.advance()
                self.rest += 1
                return meta.status, body
        if self.done.is_set():
            raise aiohttp.ClientConnectionError(f"GET {url}: not in the recording")
        fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, deque()).append(fut)
        return await fut

    async def deliver_rest(self) -> None:
        """The next record is a REST answer: hand it to the request waiting for it (waiting up to
        ``_REST_CLAIM_WAIT_S`` for that request to be made), then let it be processed."""
        rec = self.next
        assert rec is not None
        await self.clock.wait_until(rec[1])
        self.advance()
        try:
            meta, body = fmt.split_rest(rec[3])
        except ValueError as exc:
            log.warning("replay: %s", exc)
            return
        key = _key(meta.url, meta.params)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _REST_CLAIM_WAIT_S
        spins = 0
        while not self._waiters.get(key):
            if loop.time() > deadline:
                self.rest_unclaimed += 1
                log.info("replay: recorded GET %s was never requested; skipped", meta.url)
                return
            spins += 1
            await asyncio.sleep(0 if spins < 100 else 0.001)
        self._waiters[key].popleft().set_result((meta.status, body))
        self.rest += 1
        await asyncio.sleep(0)  # the requester resumes (and applies the snapshot) before the next frame
        await asyncio.sleep(0)

    def fail_waiters(self) -> None:
        for q in self._waiters.values():
            while q:
                fut = q.popleft()
                if not fut.done():
                    fut.set_exception(aiohttp.ClientConnectionError("not in the recording"))

    async def idle(self) -> None:
        """Called at the end of the records: requests left waiting fail, the caller waits forever."""
        self.done.set()
        self.fail_waiters()
        await asyncio.Event().wait()

    # -- WebSocket ---------------------------------------------------------------------------------
    async def open_connection(self) -> int:
        """Advance to the next recorded connection and return its id (serving recorded REST
        answers on the way, skipping frames of connections already closed)."""
        while True:
            rec = self.next
            if rec is None:
                await self.idle()
                continue
            kind = rec[0]
            if kind == fmt.OPEN:
                await self.clock.wait_until(rec[1])
                self.advance()
                self.connections += 1
                self.active_conn = rec[2]
                return rec[2]
            if kind == fmt.REST:
                await self.deliver_rest()
            else:
                self.advance()  # a CLOSE, or frames of a connection the recording never opened


class _Message:
    """What ``exchanges.ws.ws_payloads`` reads: every recorded message as a binary one."""

    __slots__ = ("data",)
    type = aiohttp.WSMsgType.BINARY

    def __init__(self, data: bytes) -> None:
        self.data = data


class ReplayWebSocket:
    """One recorded connection: iterate for its messages; ``send_str`` is accepted (counted in
    :attr:`sent`) and dropped; the iteration ends where the recording closed the connection, or
    at :meth:`close`."""

    def __init__(self, cursor: ReplayCursor, conn: int) -> None:
        self._cursor = cursor
        self.conn = conn
        self.closed = False
        self.sent = 0
        self._closed_event = asyncio.Event()
        self._n = 0

    def __aiter__(self) -> ReplayWebSocket:
        return self

    async def __anext__(self) -> _Message:
        cur = self._cursor
        conn = self.conn
        clock = cur.clock
        while not self.closed:
            rec = cur.next
            if rec is None:
                await self._wait_closed()
                break
            kind = rec[0]
            if (kind == fmt.TEXT or kind == fmt.BINARY) and rec[2] == conn:
                if clock.speed is not None:
                    await clock.wait_until(rec[1])
                i = cur._i + 1  # cur.advance(), inlined: the replay's hot path
                block = cur._block
                if i < len(block):
                    cur._i = i
                    cur.next = block[i]
                else:
                    cur._load()
                cur.frames += 1
                self._n += 1
                if self._n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                return _Message(rec[3])
            if kind == fmt.REST:
                await cur.deliver_rest()
            elif kind == fmt.OPEN:
                break  # a new connection starts: this one is over (left for open_connection)
            elif kind == fmt.CLOSE and rec[2] == conn:
                cur.advance()
                break
            else:
                cur.advance()  # frames or the close of another connection: not this socket's
        self.closed = True
        if cur.active_conn == conn:
            cur.active_conn = None
        raise StopAsyncIteration

    async def _wait_closed(self) -> None:
        self._cursor.done.set()
        self._cursor.fail_waiters()
        await self._closed_event.wait()

    async def send_str(self, data: str) -> None:
        self.sent += 1

    async def close(self) -> bool:
        self.closed = True
        self._closed_event.set()
        return True

    def exception(self) -> None:
        return None


class ReplaySession:
    """The ``aiohttp.ClientSession`` subset the feeds and clients use (``ws_connect``, ``get``,
    ``closed``, ``close``), served from ``cursor``."""

    def __init__(self, cursor: ReplayCursor) -> None:
        self.cursor = cursor
        self.closed = False

    def ws_connect(self, url: str, **_kwargs: Any) -> _ReplayConnect:
        return _ReplayConnect(self.cursor)

    def get(self, url: str, *, params: dict[str, Any] | None = None, **_kwargs: Any) -> _ReplayGet:
        return _ReplayGet(self.cursor, url, params)

    async def close(self) -> None:
        self.closed = True


class _ReplayConnect:
    def __init__(self, cursor: ReplayCursor) -> None:
        self._cursor = cursor
        self._ws: ReplayWebSocket | None = None

    async def __aenter__(self) -> ReplayWebSocket:
        self._ws = ReplayWebSocket(self._cursor, await self._cursor.open_connection())
        return self._ws

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None:
            await self._ws.close()
            if self._cursor.active_conn == self._ws.conn:
                self._cursor.active_conn = None


class _ReplayResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    async def read(self) -> bytes:
        return self._body


class _ReplayGet:
    def __init__(self, cursor: ReplayCursor, url: str, params: dict[str, Any] | None) -> None:
        self._cursor, self._url, self._params = cursor, url, params

    async def __aenter__(self) -> _ReplayResponse:
        return _ReplayResponse(*await self._cursor.request(self._url, self._params))

    async def __aexit__(self, *exc: Any) -> None:
        return None
