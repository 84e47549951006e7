"""uvicorn for the API and the dashboard: the dashboard's event streams end when the server stops
(uvicorn would otherwise wait for every open page to leave), and a server embedded in ``perpdex
run`` leaves SIGINT / SIGTERM to the run (which stops its strategies, then the server)."""

from __future__ import annotations

import contextlib
import gc
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


class ApiServer(uvicorn.Server):
    """``uvicorn.Server`` for :func:`perpdex.api.create_app`'s app; ``embedded``: signals are the
    host process's (no handler installed)."""

    def __init__(self, config: uvicorn.Config, *, embedded: bool = False) -> None:
        super().__init__(config)
        self.embedded = embedded

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self.embedded:
            yield
            return
        with super().capture_signals():
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Everything alive once the app has started (modules, catalogs, the app itself) is kept
        # out of the collector's full scans: with it, a full collection of this heap took 100-180
        # ms, stalling every request and /health ~once a second under load (bench_service.py).
        gc.collect()
        gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(getattr(self.config.app, "state", None), "live_hub", None)
        if hub is not None:
            hub.close()
        await super().shutdown(sockets)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (IPv4 or IPv6 literal or name), for
    ``server.serve(sockets=[...])``. Raises :class:`OSError` when the address is taken or unknown."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
    except OSError:
        sock.close()
        raise
    return sock


def config(app: Any, *, verbose: bool = False, host: str = "127.0.0.1", port: int = 8080) -> uvicorn.Config:
    """The uvicorn settings perpdex serves with (lifespan on, access log with ``verbose``, pages'
    event streams closed at shutdown, 3 s for the rest)."""
    return uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=verbose,
                          log_level="info" if verbose else "warning", timeout_graceful_shutdown=3)
