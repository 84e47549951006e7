"""``perpdex run --dashboard``: the API and its page served from inside the run, on the run's
event loop, showing the run's live state (see :mod:`perpdex.api.live`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import typer

from ..config import AppConfig
from ..errors import ConfigError, PerpdexError
from ..storage import Store

START_TIMEOUT_S = 30.0


def bind_address(cfg: AppConfig, host: str | None, port: int | None) -> tuple[str, int]:
    """(host, port) to listen on (``service.host`` / ``service.port`` by default) once the token
    rule allows it (:func:`perpdex.api.auth.check_bind`); a refusal is one line on stderr and
    exit code 2."""
    from ..api.auth import check_bind, resolve_token

    where = (host or cfg.service.host, port or cfg.service.port)
    try:
        check_bind(where[0], resolve_token(cfg))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return where


@dataclass
class Dashboard:
    server: Any
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        """Close the pages' event streams and stop the server (bounded)."""
        self.server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10.0)


async def start_dashboard(cfg: AppConfig, store: Store, live: Any, host: str, port: int, *,
                          verbose: bool = False) -> Dashboard:
    """Serve :func:`perpdex.api.create_app` (no collection loop: the run is the collector) with
    ``live`` attached on ``host``:``port``; returns once it answers. Raises :class:`ConfigError`
    naming ``--port`` when the address cannot be bound, :class:`PerpdexError` when the server
    does not start."""
    from ..api import create_app
    from ..api import server as api_server

    try:
        sock = api_server.listen_socket(host, port)
    except OSError as exc:
        raise ConfigError("--port", f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = api_server.ApiServer(api_server.config(create_app(cfg, store=store, collect=False, live=live),
                                                    verbose=verbose, host=host, port=port), embedded=True)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not server.started and not task.done() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise PerpdexError(f"the dashboard did not start on {host}:{port}")
    shown = f"[{host}]" if ":" in host else host
    return Dashboard(server, task, f"http://{shown}:{port}/")
