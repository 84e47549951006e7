"""``perpdex record``: run the market feeds of the configured exchanges with the recording tap
under them and write what they receive (see :mod:`perpdex.recording.format`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..app import exchange_settings, runtime
from ..config import AppConfig
from ..errors import ConfigError
from ..exchanges import registry
from ..exchanges.base import ExchangeClient, ExchangeSettings
from .tap import RecordingSession
from .writer import Recorder

log = logging.getLogger(__name__)


def public_settings(settings: ExchangeSettings) -> ExchangeSettings:
    """``settings`` for public market data only: no credentials, no ccxt options (which may carry
    keys); what is left (URLs, feed options such as a depth mode) goes into the manifest."""
    return replace(settings, credentials={}, options={k: v for k, v in settings.options.items() if k != "ccxt"})


@dataclass
class RecordingRun:
    """A recording in progress: its :class:`Recorder` and one public client per exchange.
    ``funding``: the feeds also subscribe the exchanges' public funding streams (feed option
    ``funding_stream``, kept in the manifest so the replay decodes them the same way)."""

    recorder: Recorder
    symbols: list[str]
    funding: bool = True
    clients: dict[str, ExchangeClient] = field(default_factory=dict)
    sessions: list[RecordingSession] = field(default_factory=list)

    async def start(self, name: str, settings: ExchangeSettings) -> None:
        """Connect ``name``'s public client through the tap and subscribe every symbol."""
        settings = public_settings(settings)
        settings.options["funding_stream"] = self.funding
        channel = self.recorder.channel(name, rest_url=settings.rest_url, ws_url=settings.ws_url,
                                        options=settings.options, symbols=self.symbols)
        session = RecordingSession(channel)
        self.sessions.append(session)
        client = self.clients[name] = registry.client_class(name)(settings)
        client.use_session(session)
        await client.connect()
        for sym in self.symbols:
            await client.prepare_market_feed(sym)

    async def wait_ready(self, timeout: float) -> dict[str, list[str]]:
        """Wait for every book; returns exchange -> symbols still not ready after ``timeout`` s."""
        missing: dict[str, list[str]] = {}
        for name, c in self.clients.items():
            ready = await asyncio.gather(*(c.feed.wait_ready(s, timeout) for s in self.symbols))
            if not all(ready):
                missing[name] = [s for s, ok in zip(self.symbols, ready) if not ok]
        return missing

    async def finish(self) -> dict[str, Any]:
        """End the recording now, close clients and sessions, write the manifest; returns it."""
        self.recorder.stop_accepting()
        for c in self.clients.values():
            with contextlib.suppress(Exception):
                await c.close()
        for s in self.sessions:
            await s.close()
        return await self.recorder.close()


async def record(cfg: AppConfig, symbols: list[str], out: Path, *, exchanges: list[str] | None = None,
                 duration: float | None = None, stop: asyncio.Event | None = None,
                 on_tick: Callable[[Recorder, float], None] | None = None,
                 recorder_options: dict[str, Any] | None = None, funding: bool = True) -> dict[str, Any]:
    """Record ``symbols`` on ``exchanges`` (default: the config's enabled ones; the emulator's when
    ``sim.enabled``) into ``out`` for ``duration`` s or until ``stop`` is set. ``on_tick(recorder,
    elapsed_s)`` is called about every 0.5 s (progress). ``funding``: also record the public
    funding streams (see :class:`RecordingRun`). Returns the final manifest (per exchange:
    frames, dropped, bytes on disk, bytes per frame, files). Raises ConfigError for an exchange
    that is not configured."""
    names = exchanges or cfg.enabled_exchanges
    unknown = [n for n in names if n not in cfg.exchanges]
    if unknown:
        raise ConfigError("exchanges", f"not in the config: {', '.join(unknown)} (has: {', '.join(cfg.exchanges)})")
    stop = stop or asyncio.Event()
    async with runtime(cfg, with_clients=False) as rt:
        run = RecordingRun(Recorder(out, meta={"symbols": symbols, "sim": cfg.sim.enabled},
                                    **(recorder_options or {})), symbols, funding)
        try:
            for name in names:
                await run.start(name, exchange_settings(cfg, name, rt.cluster))
            loop = asyncio.get_running_loop()
            started = loop.time()
            while not stop.is_set():
                elapsed = loop.time() - started
                if duration is not None and elapsed >= duration:
                    break
                if on_tick is not None:
                    on_tick(run.recorder, elapsed)
                wait = 0.5 if duration is None else min(0.5, max(duration - elapsed, 0.0))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            manifest = await run.finish()
    return manifest
