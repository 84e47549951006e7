"""Wiring: config -> (optional in-process emulator) -> exchange clients and funding adapters."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import AppConfig
from .errors import ConfigError
from .exchanges import registry
from .exchanges.base import ExchangeClient, ExchangeSettings, FundingAdapter
from .exchanges.http import configure_budget

if TYPE_CHECKING:  # live trading never imports the emulator: only `sim.enabled` loads it
    from .sim.server import EmulatorCluster

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    cfg: AppConfig
    clients: dict[str, ExchangeClient] = field(default_factory=dict)
    adapters: dict[str, FundingAdapter] = field(default_factory=dict)
    cluster: EmulatorCluster | None = None

    @property
    def fee_overrides(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name, ex in self.cfg.exchanges.items():
            out[name] = {"taker": ex.taker_fee, "maker": ex.maker_fee}
        return out


def _drop_paths(config: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``config`` without the dotted ``paths`` (``"options.auths"``)."""
    out = copy.deepcopy(config)
    for path in paths:
        *parents, last = path.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def exchange_settings(cfg: AppConfig, name: str, cluster: EmulatorCluster | None,
                      account_credentials: dict[str, Any] | None = None) -> ExchangeSettings:
    """Settings for ``name``: config values, with the emulator's URLs and sim credentials filling in
    when the emulator runs and the entry has no URLs of its own. ``account_credentials`` (an
    account's decrypted fields) replace the config's credentials, and the credentials in the ccxt
    options (the client class's ``CCXT_CREDENTIAL_PATHS``, e.g. the emulator's sim key) are dropped."""
    ex = cfg.exchanges[name]
    rest, ws, options = ex.rest_url, ex.ws_url, dict(ex.options)
    if cluster is not None and name in cluster.endpoints and rest is None and ws is None:
        ep = cluster.endpoints[name]
        rest, ws = ep["rest_url"], ep["ws_url"]
        options.setdefault("ccxt", copy.deepcopy(ep["ccxt"]))  # ccxt mutates what it is given
    credentials = dict(ex.credentials)
    if account_credentials:
        credentials = dict(account_credentials)
        if isinstance(options.get("ccxt"), dict):
            paths = getattr(registry.client_class(name), "CCXT_CREDENTIAL_PATHS", ())
            options["ccxt"] = _drop_paths(options["ccxt"], tuple(paths))
    return ExchangeSettings(
        name=name, rest_url=rest, ws_url=ws, credentials=credentials,
        taker_fee=ex.taker_fee, maker_fee=ex.maker_fee, options=options,
        stream_silence_s=ex.stream_silence_s,
    )


@contextlib.asynccontextmanager
async def runtime(cfg: AppConfig, *, with_clients: bool = True,
                  credentials: dict[str, dict[str, Any]] | None = None) -> AsyncIterator[Runtime]:
    """Start what ``cfg`` asks for (emulator, clients, adapters) and close it all on exit.
    ``credentials``: exchange -> an account's decrypted credential fields (``run --account``),
    overriding the config's for those exchanges."""
    rt = Runtime(cfg)
    names = cfg.enabled_exchanges
    try:
        if cfg.sim.enabled:
            from .sim.recorded import RecordedMarketError
            from .sim.server import start_emulators

            market = cfg.sim.market
            try:
                rt.cluster = await start_emulators(
                    names, scenario=cfg.sim.scenario, seed=cfg.sim.seed,
                    funding_time_scale=cfg.sim.funding_time_scale, starting_balance=cfg.sim.starting_balance,
                    price_time_scale=cfg.sim.price_time_scale,
                    recording=market.recording if market else None,
                    recording_speed=market.speed if market else 1.0, recording_loop=market.loop if market else False,
                )
            except RecordedMarketError as exc:
                raise ConfigError("sim.market.recording", str(exc)) from None
        for name in names:
            ex = cfg.exchanges[name]
            if ex.rate_limit_per_s is not None or ex.rate_limit_burst is not None:
                configure_budget(name, ex.rate_limit_per_s, ex.rate_limit_burst)
            settings = exchange_settings(cfg, name, rt.cluster, (credentials or {}).get(name))
            rt.adapters[name] = registry.funding_class(name)(settings)
            if with_clients:
                rt.clients[name] = registry.client_class(name)(settings)
        yield rt
    finally:
        for c in rt.clients.values():
            with contextlib.suppress(Exception):
                await c.close()
        for a in rt.adapters.values():
            with contextlib.suppress(Exception):
                await a.close()
        if rt.cluster is not None:
            await rt.cluster.stop()
