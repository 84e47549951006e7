"""``perpdex serve``: the funding-rate service and its HTTP API (see :mod:`perpdex.api.app`).

    perpdex serve --config F [--host H] [--port P] [--openapi out.json] [--verbose]
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import typer

from ..config import AppConfig
from .common import console, load_app_config, run_async


def serve(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config file (see configs/sim.yml); the "
                                "'service' section sets the interval, host and port."),
    host: str | None = typer.Option(None, "--host", help="Listen address (default: service.host)."),
    port: int | None = typer.Option(None, "--port", "-p", min=1, max=65535, help="Listen port (default: service.port)."),
    openapi: Path | None = typer.Option(None, "--openapi", help="Write the OpenAPI schema (JSON) here and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
) -> None:
    """Collect funding rates, mark prices, 24h volume and open interest from every configured
    exchange every service.interval_s seconds into the store, and serve them over HTTP:
    /health, /funding-rates, /funding-rates/{symbol}/history, /opportunities (docs at /docs),
    and the dashboard at / (read-only). With sim.enabled the emulated exchanges run in-process.
    A non-loopback --host needs a token ($PERPDEX_API_TOKEN or service.api_token)."""
    from ..api import create_app

    cfg = load_app_config(config, verbose)
    if openapi is not None:
        openapi.write_text(json.dumps(create_app(cfg).openapi(), indent=2, sort_keys=True) + "\n")
        console.print(f"OpenAPI schema written to [bold]{openapi}[/]")
        return
    if not verbose:  # the service's round-by-round progress, at the configured level
        for name in ("perpdex.funding.service", "perpdex.funding.collector", "perpdex.api"):
            logging.getLogger(name).setLevel(getattr(logging, cfg.log_level.upper(), logging.INFO))
    from .dashboard import bind_address

    host, port = bind_address(cfg, host, port)  # a non-loopback address needs a token (perpdex.api.auth)
    console.print(f"funding-rate service on http://{host}:{port} (dashboard at /, OpenAPI docs at /docs), collecting every "
                  f"{cfg.service.interval_s:g}s from {', '.join(cfg.enabled_exchanges)}; Ctrl-C to stop")
    if not run_async(_serve(cfg, host, port, verbose)):
        raise typer.Exit(1)


async def _serve(cfg: AppConfig, host: str, port: int, verbose: bool) -> bool:
    """Open the store (a store that cannot open is one :class:`ConfigError` naming
    ``storage.url``), then run uvicorn until SIGINT/SIGTERM (a clean stop: collection ended,
    store and emulators closed); False when the app failed to start."""
    from ..api import create_app
    from ..api.server import ApiServer
    from ..api.server import config as server_config
    from ..storage import open_store

    store = await open_store(cfg.storage.url)  # ConfigError naming storage.url, bounded in time
    try:
        return await _uvicorn(ApiServer(server_config(create_app(cfg, store=store), verbose=verbose, host=host,
                                                      port=port)))
    finally:
        await store.close()


async def _uvicorn(server: Any) -> bool:
    """``server.serve()``; whether the app started."""
    # uvicorn re-raises the signal that stopped it once it has shut down; by then the stop is
    # complete, so the re-raised signal is ignored here instead of killing the process
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        await server.serve()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return server.started
