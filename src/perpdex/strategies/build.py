"""Config entries -> strategies on one shared runtime (what ``perpdex run`` runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import AppConfig, FundingArbConfig, GridConfig
from ..execution.price_provider import PriceProvider, RedisDepthCache
from ..runtime.core import TradingRuntime
from ..runtime.ids import assign_tags
from ..storage import Store
from .funding_arb import FundingArbStrategy
from .grid import GridStrategy

if TYPE_CHECKING:
    from ..app import Runtime

Strategy = FundingArbStrategy | GridStrategy


def build_strategies(cfg: AppConfig, app: Runtime, store: Store, *, account: str | None = None,
                     on_event: Callable[[str], None] | None = None) -> list[Strategy]:
    """One strategy per ``cfg.strategies`` entry, all on one :class:`TradingRuntime` over
    ``app``'s clients and ``store`` (the price provider takes the first funding-arb entry's cache
    settings). Raises ``ValueError`` when two strategy names share a client-id tag."""
    assign_tags([e.resolved_name for e in cfg.strategies])
    arb_cfgs = [e for e in cfg.strategies if isinstance(e, FundingArbConfig)]
    ttl = arb_cfgs[0].price_cache_ttl_s if arb_cfgs else 5.0
    url = arb_cfgs[0].price_cache_url if arb_cfgs else None
    ready = max((e.feed_ready_timeout_s for e in cfg.strategies), default=10.0)
    runtime = TradingRuntime(app.clients, store, account=account, on_event=on_event, feed_ready_timeout_s=ready,
                             prices=PriceProvider(ttl, RedisDepthCache(url) if url else None))
    out: list[Strategy] = []
    for entry in cfg.strategies:
        if isinstance(entry, GridConfig):
            out.append(GridStrategy(entry, runtime, funding=app.adapters.get(entry.exchange)))
        else:
            out.append(FundingArbStrategy(entry, app.clients, app.adapters, store, runtime=runtime,
                                          fee_overrides=app.fee_overrides, name=entry.resolved_name))  # type: ignore[arg-type]  # a None fee is no override
    return out
