"""Run emulated exchanges on loopback: one aiohttp server per venue, each speaking its exchange's
wire dialect (``perpdex.sim.venues.<name>``), over one shared :class:`Simulation`.

A dialect class takes a :class:`~perpdex.sim.engine.Venue` and provides:

* ``build_app() -> aiohttp.web.Application`` (REST and WebSocket routes);
* ``endpoints(host, port) -> dict`` with ``rest_url``, ``ws_url`` and ``ccxt`` (the constructor
  options with which an unmodified ``ccxt.async_support.<name>`` / ``ccxt.pro.<name>`` instance
  trades against it: URL overrides, sim credentials, options);
* ``async close()`` (closes open WebSockets).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..files import write_private_text
from . import venues
from .engine import Simulation
from .faults import close_ack_scope, open_ack_scope
from .recorded import RecordedMarket
from .scenario import build_simulation, load_scenario
from .wsqueue import SILENCE_SECONDS, cut_silenced, silence_sockets

log = logging.getLogger(__name__)


@dataclass
class EmulatorCluster:
    """Running emulators: ``endpoints[name]`` -> {rest_url, ws_url, ccxt}."""

    sim: Simulation
    market: RecordedMarket | None = None  # the recording driving the books, when one does
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    dialects: dict[str, Any] = field(default_factory=dict)
    _runners: list[web.AppRunner] = field(default_factory=list)

    def silence(self, name: str, *, peer_port: int | None = None, seconds: float = SILENCE_SECONDS) -> int:
        """Make the open WebSockets of venue ``name`` (or only the one a client connected from
        ``peer_port``) go silent without closing: no frame, no pong, no server ping, until the
        connection is cut after ``seconds`` (see :mod:`perpdex.sim.wsqueue`). New connections are
        served normally. Returns how many sockets were silenced."""
        return silence_sockets(name, peer_port=peer_port, seconds=seconds)

    async def stop(self) -> None:
        for name in self.dialects:
            cut_silenced(name)
        await self.sim.stop()
        if self.market is not None:
            await self.market.stop()
        for d in self.dialects.values():
            try:
                await d.close()
            except Exception:  # noqa: BLE001 - shutting down
                log.exception("closing dialect failed")
        for r in self._runners:
            await r.cleanup()
        self._runners.clear()

    def write_endpoints(self, path: str | Path) -> None:
        write_private_text(path, json.dumps(self.endpoints, indent=2))  # 0600: it holds the sim credentials


async def start_emulators(
    names: list[str] | None = None,
    *,
    sim: Simulation | None = None,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    scenario: str | None = None,
    seed: int | None = None,
    funding_time_scale: float = 1.0,
    starting_balance: float | None = None,
    price_time_scale: float | None = None,
    run_market: bool = True,
    dialects: dict[str, type] | None = None,
    middlewares: tuple[Any, ...] = (),
    recording: str | Path | None = None,
    recording_speed: float = 1.0,
    recording_loop: bool = False,
) -> EmulatorCluster:
    """Start the named venues on ``host`` (default: every scenario venue whose exchange is in the
    registry); port 0 picks a free port. ``run_market`` starts the market process task (tests may
    step it by hand instead). ``dialects`` maps a venue to its dialect class where the registry
    does not (yet) name it. ``middlewares``: extra aiohttp middlewares run first on every venue's
    requests (instrumentation, e.g. a benchmark timing when orders arrive). ``price_time_scale``:
    simulated seconds per real second of the index process (default: the scenario's).
    ``recording``: a ``perpdex record`` directory whose books drive the venues it recorded
    (:class:`~perpdex.sim.recorded.RecordedMarket`, paced at ``recording_speed`` x its recorded
    time, started over at its end with ``recording_loop``); the emulator serves once its books
    are built. Raises :class:`~perpdex.sim.recorded.RecordedMarketError` for a recording that is
    missing, invalid or shares nothing with the venues."""
    dialects = dialects or {}
    if names is None and sim is None:
        known = set(venues.names()) | set(dialects)
        names = [n for n in load_scenario(scenario)["venues"] if n in known]
    if sim is None:
        sim = build_simulation(names, scenario=scenario, seed=seed, funding_time_scale=funding_time_scale,
                               starting_balance=starting_balance, price_time_scale=price_time_scale)
    cluster = EmulatorCluster(sim)
    if recording is not None:
        cluster.market = RecordedMarket(sim, recording, speed=recording_speed, loop=recording_loop)
        await cluster.market.start()
    for name, venue in sim.venues.items():
        dialect_cls = dialects.get(name) or venues.emulator_class(name)
        dialect = dialect_cls(venue)
        app = dialect.build_app()
        app.middlewares.insert(0, order_ack_faults)
        app.middlewares[0:0] = list(middlewares)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, (ports or {}).get(name, 0))
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started TCPSite holds an asyncio.Server
        cluster._runners.append(runner)
        cluster.dialects[name] = dialect
        cluster.endpoints[name] = dialect.endpoints(host, port)
        log.info("emulated %s listening on %s:%d", name, host, port)
    if run_market:
        sim.start()
    return cluster


@web.middleware
async def order_ack_faults(request: web.Request, handler: Any) -> web.StreamResponse:
    """The ``ack_lost`` / ``ack_late`` order faults, for every dialect: the engine executed the
    order during ``handler``; then the connection is closed without an answer, or the answer is
    held back (see :mod:`perpdex.sim.faults`)."""
    if request.method == "GET" or request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    scope, token = open_ack_scope()
    try:
        response = await handler(request)
    finally:
        close_ack_scope(token)
    for kind, value in scope:
        if kind == "ack_lost":
            log.info("emulator: dropping the answer to %s %s (ack_lost fault)", request.method, request.path)
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # nothing is written back
        if kind == "ack_late":
            await asyncio.sleep(value)
    return response


async def serve_forever(cluster: EmulatorCluster) -> None:
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await cluster.stop()
