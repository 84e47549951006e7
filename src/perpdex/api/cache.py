"""Answers of the read routes kept per collection round, refreshed in the background.

Between two rounds the stored data does not change, so ``/funding-rates``, ``/opportunities`` and
``/funding-rates/{symbol}/history`` answer identical requests (same path and query) with the
same JSON bytes until the next round is stored: a dashboard polling every few seconds, or twenty
of them, costs one computation per distinct request and round. Concurrent identical requests wait
for one computation.

When a round lands, an answer kept from the round before is still served (stale while it is
refreshed): the first request for it after the round starts one background recomputation and
every request gets the kept answer until the new one is ready. Recomputations run one at a time
(``refreshers``), so the burst of work a new round causes is spread out instead of stalling every
reader (and ``/health``) at once. An answer is therefore one round behind at most, unless the
recomputations cannot keep up with the rounds (then it is the newest one computed, and its
recomputation is under way); its ``as_of`` says when it was computed. An answer older than one
round and not being recomputed, or never computed, is computed while the request waits. Only while the service collects (it knows when a round lands); a service that only
reads the store computes every answer. At most ``max_entries`` answers are kept (the least
recently used dropped first).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ..aio import cancel_and_wait

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[BaseModel | bytes]]


class _Entry:
    __slots__ = ("round_no", "body", "refreshing")

    def __init__(self, round_no: int, body: asyncio.Future[bytes]) -> None:
        self.round_no = round_no  # the collection round the answer was computed in
        self.body = body
        self.refreshing = False


class RoundCache:
    """Per-round answer cache (see the module docstring). Counters: ``hits`` (answer of this
    round), ``stale_hits`` (the previous round's, while refreshed), ``misses`` (computed while the
    request waited), ``refreshes`` and ``refresh_errors`` (background recomputations)."""

    def __init__(self, max_entries: int = 512, refreshers: int = 1) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._refreshers = refreshers
        self._gate: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.hits = 0
        self.stale_hits = 0
        self.misses = 0
        self.refreshes = 0
        self.refresh_errors = 0

    async def answer(self, request: Request, round_no: int | None, compute: Compute) -> Response:
        """The JSON answer of ``compute()`` (a model, or its JSON already), shared by identical
        requests within collection round ``round_no`` (the count of rounds stored) and served stale
        in the next round while it is recomputed (``round_no`` None: not cached). Raises what
        ``compute`` raises when the request waits for it."""
        if round_no is None:
            return _json(_body(await compute()))
        key = f"{request.url.path}?{sorted(request.query_params.multi_items())}"
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if entry.round_no == round_no or (entry.round_no == round_no - 1 and not entry.body.done()):
                self.hits += 1  # this round's answer, or one still being computed since the last round
                return _json(await asyncio.shield(entry.body))
            if (entry.body.done() and entry.body.exception() is None
                    and (entry.round_no == round_no - 1 or entry.refreshing)):
                self.stale_hits += 1
                if not entry.refreshing:
                    entry.refreshing = True
                    task = asyncio.get_running_loop().create_task(self._refresh(key, entry, round_no, compute))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                return _json(entry.body.result())
        self.misses += 1
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        entry = self._keep(key, _Entry(round_no, fut))
        try:
            body = _body(await compute())
        except BaseException as exc:
            if self._entries.get(key) is entry:
                del self._entries[key]
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a failure without waiters is not "never retrieved"
            raise
        fut.set_result(body)
        return _json(body)

    async def _refresh(self, key: str, stale: _Entry, round_no: int, compute: Compute) -> None:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self._refreshers)
        async with self._gate:
            if self._entries.get(key) is not stale:
                return  # dropped or replaced while queued
            try:
                body = _body(await compute())
            except Exception:
                self.refresh_errors += 1
                log.warning("refreshing the kept answer of %s failed; the next request computes it", key,
                            exc_info=True)
                if self._entries.get(key) is stale:
                    del self._entries[key]
                return
            self.refreshes += 1
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            fut.set_result(body)
            if self._entries.get(key) is stale:
                self._entries[key] = _Entry(round_no, fut)

    def _keep(self, key: str, entry: _Entry) -> _Entry:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def stats(self) -> dict[str, int]:
        """Counters and the number of answers kept."""
        return {"kept": len(self._entries), "hits": self.hits, "stale_hits": self.stale_hits,
                "misses": self.misses, "refreshes": self.refreshes, "refresh_errors": self.refresh_errors}

    async def close(self) -> None:
        """Cancel the background recomputations (at shutdown)."""
        await cancel_and_wait(*self._tasks)


def _body(got: BaseModel | bytes) -> bytes:
    return got if isinstance(got, bytes) else got.model_dump_json().encode()


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")
