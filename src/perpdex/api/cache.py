"""Answers of the read routes kept for one collection round.

Between two rounds the stored data does not change, so ``/funding-rates``, ``/opportunities`` and
``/funding-rates/{symbol}/history`` answer identical requests (same path and query) with the
same JSON bytes until the next round is stored: a dashboard polling every few seconds, or twenty
of them, costs one computation per distinct request and round. Concurrent identical requests wait
for one computation. Only while the service collects (it knows when a round lands); a service
that only reads the store computes every answer. At most ``max_entries`` answers are kept (the
oldest dropped first); ``as_of`` and ages in a kept answer are those of its computation, at most
one round old.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response


class RoundCache:
    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._round: object = None
        self._entries: OrderedDict[str, asyncio.Future[bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def answer(self, request: Request, round_id: object | None,
                     compute: Callable[[], Awaitable[BaseModel | bytes]]) -> Response:
        """The JSON answer of ``compute()`` (a model, or its JSON already), shared by identical
        requests within ``round_id`` (None: not cached)."""
        if round_id is None:
            return _json(_body(await compute()))
        if round_id != self._round:
            self._round = round_id
            self._entries.clear()
        key = f"{request.url.path}?{sorted(request.query_params.multi_items())}"
        fut = self._entries.get(key)
        if fut is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return _json(await asyncio.shield(fut))
        self.misses += 1
        fut = asyncio.get_running_loop().create_future()
        self._entries[key] = fut
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        try:
            body = _body(await compute())
        except BaseException as exc:
            if self._entries.get(key) is fut:
                del self._entries[key]
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a failure without waiters is not "never retrieved"
            raise
        fut.set_result(body)
        return _json(body)


def _body(got: BaseModel | bytes) -> bytes:
    return got if isinstance(got, bytes) else got.model_dump_json().encode()


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")
