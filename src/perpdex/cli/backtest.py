"""``perpdex backtest``: what the funding-arb strategy would have earned over the stored history.

    perpdex backtest --config F --since DATE [--until DATE] [--report bt.json] [--plot bt.png] [--json] [--offline]
                     [--recording DIR]
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import AppConfig
from ..errors import ConfigError
from ..files import write_private_text
from .common import console, err_console, load_app_config, run_async
from .render import pct, usd

log = logging.getLogger(__name__)


def _date(value: str, option: str) -> datetime:
    """``2025-01-01`` or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or an ISO 8601 time)", param_hint=option) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def backtest(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config file: its first funding_arb entry is "
                                "backtested, its exchanges and storage.url are used, backtest: sets slippage."),
    since: str = typer.Option(..., "--since", help="Start (UTC), YYYY-MM-DD or ISO 8601."),
    until: str | None = typer.Option(None, "--until", help="End (UTC, exclusive; default: now)."),
    report: Path | None = typer.Option(None, "--report", "-r", help="Write the JSON report here."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG chart here (cumulative net PnL, "
                                        "entries/exits, each position's spread)."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of tables."),
    offline: bool = typer.Option(False, "--offline", help="Do not fetch the exchanges' catalogs: taker fees from "
                                 "exchanges.<name>.taker_fee or backtest.default_taker_fee; volume/OI filters off."),
    recording: Path | None = typer.Option(None, "--recording", help="A perpdex record directory: each fill it "
                                             "covers (market and time) pays the slippage of walking its recorded "
                                             "book instead of backtest.slippage_bps (default: backtest.recording)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
) -> None:
    """Replay the funding-arb strategy's own decisions (ranking, filters, exit rules, max
    positions, cooldowns) hour by hour over the settled funding history stored by `perpdex history
    fetch`, with taker fees, slippage, the config's size and leverage. Prints each position and
    the totals: net PnL, net APR on the capital committed (margin of both legs of every slot),
    max drawdown, turnover, funding flips."""

    cfg = load_app_config(config, verbose)
    start = _date(since, "--since")
    end = _date(until, "--until") if until else datetime.now(UTC)
    if end <= start:
        raise typer.BadParameter(f"--until ({end.isoformat()}) must be after --since ({start.isoformat()})",
                                 param_hint="--until")
    if recording is not None:
        from ..recording.writer import read_manifest

        try:
            read_manifest(recording)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--recording") from None
    rec = recording if recording is not None else cfg.backtest.recording
    out = run_async(_backtest(cfg, start, end, offline, quiet=as_json, console=console, err_console=err_console,
                              recording=rec))
    if out is None:
        raise typer.Exit(1)
    result, data = out
    if report is not None:
        write_private_text(report, json.dumps(data, indent=2))
    if plot is not None:
        from ..backtest.plot import plot as draw

        draw(result, plot)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    render_backtest(console, data)
    for path, what in ((report, "report"), (plot, "chart")):
        if path is not None:
            console.print(f"{what} written to [bold]{path}[/]")


async def _market_info(cfg: AppConfig, err_console: Any) -> tuple[dict, dict]:
    """(catalogs, market stats) per exchange from the clients and funding adapters; an exchange
    that cannot be reached is left out with a warning (its fee then falls back)."""
    from ..app import runtime

    catalogs: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    async with runtime(cfg) as rt:
        async def one(name: str) -> None:
            try:
                catalogs[name] = await asyncio.wait_for(rt.clients[name].load_contracts(), 20)
                stats[name] = await asyncio.wait_for(rt.adapters[name].fetch_market_data(), 20)
            except Exception as exc:  # noqa: BLE001 - one exchange down must not stop the backtest
                err_console.print(f"[yellow]{name}: catalog not fetched ({type(exc).__name__}: {exc}); its taker fee "
                                  f"falls back to the config or backtest.default_taker_fee[/]")

        await asyncio.gather(*(one(n) for n in rt.clients))
    return catalogs, stats


async def _backtest(cfg: AppConfig, since: datetime, until: datetime, offline: bool, *, quiet: bool,
                    console: Any, err_console: Any, recording: Path | None = None) -> tuple[Any, dict[str, Any]] | None:
    from sqlalchemy.exc import SQLAlchemyError

    from ..backtest.engine import BacktestSettings
    from ..backtest.report import report_dict
    from ..backtest.runner import backtest as run
    from ..storage import Store

    strategy = cfg.strategy
    exchanges = cfg.enabled_exchanges
    catalogs, stats = ({}, {}) if offline else await _market_info(cfg, err_console)
    use_stats = bool(stats) and set(stats) == set(exchanges)
    if (strategy.min_volume_24h_usd > 0 or strategy.min_open_interest_usd > 0) and not use_stats:
        err_console.print("[yellow]volume/open-interest filters are off: the history has no volume and the "
                          "current catalogs were not fetched for every exchange[/]")
    settings = BacktestSettings.from_config(cfg, catalogs=catalogs, stats=stats if use_stats else None)
    fees = {ex: (settings.ranking_fee(ex), "config" if cfg.exchanges[ex].taker_fee is not None
                 else "catalog" if catalogs.get(ex) else "default") for ex in exchanges}
    store = Store(cfg.storage.url)
    try:
        try:
            await store.init()
        except (SQLAlchemyError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise ConfigError("storage.url", f"cannot open the store: {reason}") from None
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("hours"),
                   TimeElapsedColumn()]
        with Progress(*columns, console=err_console if quiet else console, transient=True,
                      disable=quiet) as bar:
            task = bar.add_task("loading history", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, description="simulating", completed=done, total=total)

            try:
                result = await run(store, strategy, settings, since, until, exchanges, progress=progress,
                                   recording=recording, depth_max_age_s=cfg.backtest.depth_max_age_s)
            except ValueError as exc:
                err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
                return None
    finally:
        await store.close()
    data = report_dict(result, fees=fees, settings={
        "strategy": strategy.resolved_name,
        "exchanges": exchanges, "size_usd": strategy.size_usd, "leverage": strategy.leverage,
        "max_positions": strategy.max_positions, "min_net_apr": strategy.min_net_apr,
        "slippage_bps": cfg.backtest.slippage_bps, "recording": str(recording) if recording is not None else None,
        "liquidity_filters": "current catalog" if settings.stats is not None else "off"})
    return result, data


def render_backtest(console: Any, data: dict[str, Any]) -> None:
    """The per-position table, then the totals, from :func:`~perpdex.backtest.report.report_dict`."""
    t = Table(title="Backtest positions (USD)")
    for col in ("symbol", "long", "short", "entry", "exit", "funding long", "funding short", "fees", "slippage",
                "net", "close reason"):
        t.add_column(col, justify="left" if col in ("symbol", "long", "short", "entry", "exit", "close reason")
                     else "right")
    for p in data["positions"]:
        t.add_row(p["symbol"], p["long_exchange"], p["short_exchange"], p["opened_at"][:16].replace("T", " "),
                  p["closed_at"][:16].replace("T", " "), usd(p["funding_long"]), usd(p["funding_short"]),
                  f"{Decimal(p['fees']):,.4f}", f"{Decimal(p['slippage']):,.4f}", usd(p["net"]), p["close_reason"])
    if data["positions"]:
        console.print(t)
    else:
        console.print("[yellow]no position was opened: no opportunity passed the strategy's thresholds[/]")
    tot = data["totals"]
    s = Table(title=f"Totals {tot['since'][:16]} .. {tot['until'][:16]} UTC ({tot['hours']} h)", show_header=False)
    s.add_column("what")
    s.add_column("value", justify="right")
    reasons = ", ".join(f"{k}: {v}" for k, v in tot["close_reasons"].items()) or "-"
    for name, value in (("positions", str(tot["positions"])), ("funding", usd(tot["funding"])),
                        ("fees", f"{Decimal(tot['fees']):,.4f}"), ("slippage", f"{Decimal(tot['slippage']):,.4f}"),
                        ("net PnL", usd(tot["net_pnl"])), ("capital committed", f"{Decimal(tot['capital']):,.2f}"),
                        ("net APR on capital", pct(tot["net_apr"])),
                        ("max drawdown", f"{Decimal(tot['max_drawdown']):,.4f} ({pct(tot['max_drawdown_pct'])})"),
                        ("turnover", f"{Decimal(tot['turnover']):,.2f}"), ("funding flips", str(tot["funding_flips"])),
                        ("close reasons", reasons),
                        ("slippage source", _slippage_source(tot, data.get("settings", {}))),
                        ("taker fees", ", ".join(f"{ex} {pct(f['taker_fee'], 3)} ({f['source']})"
                                                 for ex, f in data["fees"].items()))):
        s.add_row(name, value)
    console.print(s)


def _slippage_source(totals: dict[str, Any], settings: dict[str, Any]) -> str:
    """``recorded depth N legs, model M legs`` (fills; the model's bp) for the totals table."""
    src = totals.get("slippage_source") or {}
    bps = settings.get("slippage_bps")
    text = f"recorded depth {src.get('recorded_depth', 0)} legs, model {src.get('model', 0)} legs"
    if bps is not None:
        text += f" ({bps} bp)"
    if src.get("depth_exhausted"):
        text += f", {src['depth_exhausted']} larger than the recorded book"
    return text
