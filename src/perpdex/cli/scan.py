"""``perpdex funding`` and ``perpdex scan``: one collection round over the configured exchanges,
shown as a table (``--top`` rows, ``--sort``, filters, a footer saying what was hidden) or JSON.

    perpdex funding --config F [--top N] [--sort volume] [--symbols BTC,ETH] [--exchanges aster,lighter]
                    [--min-apr 0.5] [--min-volume 1e6] [--json]
    perpdex scan --config F [--top N] [--sort apr] [--symbols ...] [--exchanges ...] [--min-apr 0.2]
                 [--min-volume 1e6] [--min-oi 5e5] [--json]
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import typer

from ..config import AppConfig
from ..exchanges.base import ExchangeClient
from ..funding.collector import FundingSnapshot
from ..funding.opportunities import Opportunity
from . import render
from .common import console, err_console, load_app_config, run_async
from .rows import (
    FUNDING_SORTS,
    FUNDING_TOP,
    SCAN_SORTS,
    SCAN_TOP,
    filter_funding,
    footer,
    sort_and_cut,
    sort_help,
    split_list,
)

_CONFIG_HELP = "YAML config file (see configs/sim.yml; default: ./perpdex.yml, then ~/.config/perpdex/config.yml)."
_TOP_HELP = "Show the first N rows (default: {n} in a table, all in JSON; 0: all)."
_EXCHANGES_HELP = "Comma-separated exchanges to collect from (default: every enabled one in the config)."
_SYMBOLS_HELP = "Comma-separated canonical symbols, e.g. BTC,ETH (default: all{extra})."


@dataclass
class ScanResult:
    """One scan: the snapshot collected, the opportunities ranked (best net APR first), taker
    fees used per exchange (fractions) and the seconds the collection and the ranking took."""

    snapshot: FundingSnapshot
    opportunities: list[Opportunity] = field(default_factory=list)
    fees: dict[str, Decimal] = field(default_factory=dict)
    collect_s: float = 0.0
    rank_s: float = 0.0


def only_exchanges(cfg: AppConfig, names: list[str] | None) -> AppConfig:
    """``cfg`` restricted to the enabled exchanges in ``names`` (None: unchanged). Raises
    :class:`typer.BadParameter` naming an exchange that is not enabled in the config."""
    if names is None:
        return cfg
    enabled = cfg.enabled_exchanges
    unknown = [n for n in names if n not in enabled]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)} not enabled in the config (enabled: {', '.join(enabled)})",
                                 param_hint="--exchanges")
    return cfg.model_copy(update={"exchanges": {n: e for n, e in cfg.exchanges.items() if n in names}})


async def collect(cfg: AppConfig) -> tuple[FundingSnapshot, float]:
    """One collection round over ``cfg``'s enabled exchanges: (snapshot, seconds it took)."""
    from ..app import runtime
    from ..funding.collector import collect_funding

    async with runtime(cfg, with_clients=False) as rt:
        started = time.perf_counter()
        snap = await collect_funding(rt.adapters)
        return snap, time.perf_counter() - started


async def collect_and_rank(cfg: AppConfig, *, symbols: list[str] | None = None, min_net_apr: Decimal | None = None,
                           min_volume_usd: Decimal | None = None, min_oi_usd: Decimal | None = None) -> ScanResult:
    """Load every enabled exchange's catalog (taker fees: the config's override, else the highest
    of the catalog), collect one round, rank every pair (``find_opportunities``) with the given
    filters (None: the config's ``strategy`` values; ``min_net_apr`` None: no floor)."""
    from ..app import runtime
    from ..funding.collector import collect_funding
    from ..funding.opportunities import catalog_taker_fee, find_opportunities

    st = cfg.strategy
    async with runtime(cfg) as rt:
        started = time.perf_counter()
        down = await connect_each(rt.clients)  # an exchange that cannot be reached is left out, named
        snap = await collect_funding({n: a for n, a in rt.adapters.items() if n not in down})
        snap.errors.update(down)
        ranked = time.perf_counter()
        fees = {}
        for name, client in rt.clients.items():
            if name in down or name in snap.errors:
                continue
            override = cfg.exchanges[name].taker_fee
            fees[name] = override if override is not None else catalog_taker_fee(client.contracts.values())
        opps = find_opportunities(
            snap, fees, min_net_apr=Decimal(-10**9) if min_net_apr is None else min_net_apr, hold_hours=st.hold_hours,
            min_volume_24h_usd=st.min_volume_24h_usd if min_volume_usd is None else min_volume_usd,
            min_open_interest_usd=st.min_open_interest_usd if min_oi_usd is None else min_oi_usd,
            symbols=symbols if symbols is not None else (st.symbols or None),
        )
        done = time.perf_counter()
        return ScanResult(snap, opps, fees, ranked - started, done - ranked)


async def connect_each(clients: dict, timeout_s: float = 30.0) -> dict[str, str]:
    """``connect()`` every client at once, each bounded by ``timeout_s`` seconds; returns
    exchange -> the one-line reason for each that failed (the others are connected)."""
    from ..errors import PerpdexError

    async def one(name: str, client: ExchangeClient) -> tuple[str, str | None]:
        try:
            await asyncio.wait_for(client.connect(), timeout_s)
        except TimeoutError:
            return name, f"catalog: no answer within {timeout_s:g}s"
        except (PerpdexError, OSError) as exc:
            lines = str(exc).strip().splitlines()
            return name, f"catalog: {lines[0] if lines else type(exc).__name__}"
        return name, None

    return {n: r for n, r in await asyncio.gather(*(one(n, c) for n, c in clients.items())) if r is not None}


def _all_failed(snap: FundingSnapshot) -> bool:
    """Every exchange asked failed (nothing collected): the command exits 1."""
    return bool(snap.errors) and not snap.rates


def _summary(snap: FundingSnapshot, seconds: float) -> str:
    markets = sum(len(per) for per in snap.rates.values())
    per = ", ".join(f"{n} {len(snap.rates[n])}" for n in sorted(snap.rates))
    return f"collected {markets:,} markets from {len(snap.rates)} exchange(s) in {seconds:.2f}s ({per})"


def funding(
    config: Path | None = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    top: int | None = typer.Option(None, "--top", "-n", min=0, help=_TOP_HELP.format(n=FUNDING_TOP)),
    sort: str = typer.Option("volume", "--sort", "-s", help="Row order: " + sort_help(FUNDING_SORTS) + "."),
    symbols: str | None = typer.Option(None, "--symbols", help=_SYMBOLS_HELP.format(extra="")),
    exchanges: str | None = typer.Option(None, "--exchanges", "-e", help=_EXCHANGES_HELP),
    min_apr: float | None = typer.Option(None, "--min-apr", help="Only rates whose APR is at least this large "
                                            "either way (fraction per year: 0.5 = 50 %)."),
    min_volume: float | None = typer.Option(None, "--min-volume", help="Only markets with at least this 24h volume (USD)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Funding rates on every configured exchange: per interval, normalized to 8h, and APR, with
    24h volume and open interest (USD). One row per (exchange, symbol); at catalog scale the
    table shows the first --top rows in --sort order and says how many it hid."""
    from ..strategies.report import snapshot_rows

    if sort not in FUNDING_SORTS:
        raise typer.BadParameter(f"{sort!r}: one of {', '.join(FUNDING_SORTS)}", param_hint="--sort")
    cfg = only_exchanges(load_app_config(config, verbose), split_list(exchanges))
    with err_console.status(f"collecting funding rates from {', '.join(cfg.enabled_exchanges)}..."):
        snap, seconds = run_async(collect(cfg))
    rows = filter_funding(snapshot_rows(snap), symbols=split_list(symbols, upper=True),
                          min_abs_apr=None if min_apr is None else Decimal(str(min_apr)),
                          min_volume_usd=None if min_volume is None else Decimal(str(min_volume)))
    shown, hidden = sort_and_cut(rows, FUNDING_SORTS, sort, top if top is not None or as_json else FUNDING_TOP)
    if as_json:
        print(json.dumps({"funding_rates": shown, "total": len(rows), "errors": snap.errors}, indent=2))
    else:
        render.funding_table(console, shown)
        console.print(footer(len(shown), hidden, "funding rates", sort, FUNDING_SORTS), highlight=False)
        console.print(_summary(snap, seconds), highlight=False, style="dim")
        render.errors(console, snap.errors)
    if _all_failed(snap):
        raise typer.Exit(1)


def scan(
    config: Path | None = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    top: int | None = typer.Option(None, "--top", "-n", min=0, help=_TOP_HELP.format(n=SCAN_TOP)),
    sort: str = typer.Option("apr", "--sort", "-s", help="Row order: " + sort_help(SCAN_SORTS) + "."),
    symbols: str | None = typer.Option(None, "--symbols", help=_SYMBOLS_HELP.format(extra=" or strategy.symbols")),
    exchanges: str | None = typer.Option(None, "--exchanges", "-e", help=_EXCHANGES_HELP + " Both legs are among them."),
    min_apr: float | None = typer.Option(None, "--min-apr", help="Only pairs with at least this net APR "
                                            "(fraction per year: 0.2 = 20 %; default: no floor)."),
    min_volume: float | None = typer.Option(None, "--min-volume", help="Only pairs whose two legs each have at "
                                               "least this 24h volume, USD (default: strategy.min_volume_24h_usd)."),
    min_oi: float | None = typer.Option(None, "--min-oi", help="Only pairs whose two legs each have at least this "
                                           "open interest, USD (default: strategy.min_open_interest_usd)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Rank arbitrage opportunities by net APR after round-trip taker fees (no trading): every
    symbol listed on two exchanges, long where funding is lower, short where it is higher. At
    catalog scale the table shows the first --top pairs in --sort order and says how many it hid."""
    from ..strategies.report import opportunity_dict

    if sort not in SCAN_SORTS:
        raise typer.BadParameter(f"{sort!r}: one of {', '.join(SCAN_SORTS)}", param_hint="--sort")
    cfg = only_exchanges(load_app_config(config, verbose), split_list(exchanges))
    dec = lambda x: None if x is None else Decimal(str(x))  # noqa: E731 - a one-line local helper reads best as a lambda
    with err_console.status(f"collecting and ranking {', '.join(cfg.enabled_exchanges)}..."):
        res = run_async(collect_and_rank(cfg, symbols=split_list(symbols, upper=True), min_net_apr=dec(min_apr),
                                         min_volume_usd=dec(min_volume), min_oi_usd=dec(min_oi)))
    rows = [opportunity_dict(o) for o in res.opportunities]
    shown, hidden = sort_and_cut(rows, SCAN_SORTS, sort, top if top is not None or as_json else SCAN_TOP)
    if as_json:
        print(json.dumps({"opportunities": shown, "total": len(rows), "errors": res.snapshot.errors}, indent=2))
        if _all_failed(res.snapshot):
            raise typer.Exit(1)
        return
    if not rows and (symbols or min_apr is not None or min_volume is not None or min_oi is not None):
        console.print("[yellow]no pair passes the filters[/] (--symbols, --min-apr, --min-volume, --min-oi)")
    else:
        render.opportunities_table(console, shown, cfg.strategy.min_net_apr)
    if rows:
        console.print(footer(len(shown), hidden, "opportunities", sort, SCAN_SORTS), highlight=False)
    console.print(_summary(res.snapshot, res.collect_s + res.rank_s), highlight=False, style="dim")
    render.errors(console, res.snapshot.errors)
    if _all_failed(res.snapshot):
        raise typer.Exit(1)
