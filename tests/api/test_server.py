"""The API server: once started, what the app holds is out of the collector's full scans."""

from __future__ import annotations

import asyncio
import gc
import socket

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from perpdex.api import server as api_server

from ..waiting import eventually


async def test_started_server_freezes_the_heap_it_started_with() -> None:
    async def ok(request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", ok)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    server = api_server.ApiServer(api_server.config(app, host="127.0.0.1", port=port), embedded=True)
    task = asyncio.create_task(server.serve(sockets=[api_server.listen_socket("127.0.0.1", port)]))
    try:
        await eventually(lambda: server.started, what="the server to start")
        # the app and everything imported so far are frozen: full collections skip them
        assert gc.get_freeze_count() > 1000
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        gc.unfreeze()
