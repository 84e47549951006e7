"""The ``perpdex`` command line (typer + rich).

    perpdex run --config F [--duration S] [--report out.json]
    perpdex scan --config F [--top N] [--sort apr] [--symbols ...] [--exchanges ...] [--min-apr X] [--json]
    perpdex funding --config F [--top N] [--sort volume] [--symbols ...] [--exchanges ...] [--json]
    perpdex book EXCHANGE SYMBOL --config F [--levels N] [--json] [--once]
    perpdex status --config F [--symbols BTC,ETH] [--json]
    perpdex sim [--endpoints-file F]
    perpdex serve --config F [--host H] [--port P] [--openapi out.json]
    perpdex record --config F --symbols BTC,ETH --out DIR [--duration S]
    perpdex replay DIR [--speed N | max] [--json]
    perpdex history fetch|show --config F ...
    perpdex backtest --config F --since DATE [--until DATE] [--report bt.json] [--plot bt.png] [--json]
    perpdex doctor [--config F] [--json]
    perpdex alerts test --config F
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..config import AppConfig
from ..errors import ConfigError, PerpdexError
from ..exchanges import registry
from ..files import write_private_text
from . import render
from .accounts import accounts_app
from .alerts import alerts_app, start_alerts
from .backtest import backtest
from .common import console, err_console, load_app_config, run_async, setup_logging, stop_on_signals
from .db import db_app
from .doctor import doctor
from .history import history_app
from .record import record, replay
from .scan import funding, scan
from .serve import serve

log = logging.getLogger(__name__)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="perpdex: delta-neutral funding-rate arbitrage across perpetual DEXes "
    f"({', '.join(registry.names())}), "
    "with a built-in emulator of each exchange for paper trading.",
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(db_app, name="db")
app.add_typer(history_app, name="history")
app.add_typer(alerts_app, name="alerts")
app.command()(serve)
app.command()(record)
app.command()(replay)
app.command()(funding)
app.command()(scan)
app.command()(backtest)
app.command()(doctor)
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (see configs/sim.yml; default: ./perpdex.yml, then ~/.config/perpdex/config.yml).")


# --------------------------------------------------------------------------------------------------
@app.command()
def run(
    config: Path | None = ConfigOpt,
    duration: float | None = typer.Option(None, "--duration", "-d", help="Stop after this many seconds (default: until Ctrl-C)."),
    report: Path | None = typer.Option(None, "--report", "-r", help="Write the JSON report here."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
    account: str | None = typer.Option(None, "--account", "-a", help="Trade for this account (perpdex accounts): its "
                                          "credentials override the config's; only its positions are seen."),
    key_file: Path | None = typer.Option(None, "--key-file", "-k", help="Master key file for --account "
                                            "(default $PERPDEX_MASTER_KEY / $PERPDEX_MASTER_KEY_FILE / accounts.key_file)."),
    dashboard: bool = typer.Option(False, "--dashboard", help="Serve the live dashboard and its read-only API while "
                                   "running (http://HOST:PORT/); a non-loopback HOST needs $PERPDEX_API_TOKEN "
                                   "or service.api_token."),
    host: str | None = typer.Option(None, "--host", help="Dashboard listen address (default: service.host, loopback)."),
    port: int | None = typer.Option(None, "--port", "-p", min=1, max=65535,
                                       help="Dashboard port (default: service.port)."),
) -> None:
    """Run every strategy of the config in one process (funding-rate arbitrage: scan, open
    delta-neutral pairs, collect funding, close when the spread fades; grid: post-only entries,
    a take-profit for every fill); prints a report at the end."""
    if duration is not None and not duration > 0:
        err_console.print(f"[bold red]error:[/] --duration must be a positive number of seconds (got {duration:g})",
                          soft_wrap=True)
        raise typer.Exit(2)
    cfg = load_app_config(config, verbose)
    where = None
    if dashboard:
        from .dashboard import bind_address

        where = bind_address(cfg, host, port)
    result = run_async(_run(cfg, duration, report, account, key_file, dashboard=where, verbose=verbose))
    render.report(console, result)
    if report:
        console.print(f"report written to [bold]{report}[/]")


async def _run(cfg: AppConfig, duration: float | None, report_path: Path | None,
               account: str | None = None, key_file: Path | None = None,
               dashboard: tuple[str, int] | None = None, verbose: bool = False) -> dict[str, Any]:
    from ..app import runtime
    from ..storage import open_store
    from ..strategies.build import build_strategies
    from ..strategies.funding_arb import FundingArbStrategy
    from ..strategies.report import build_report, snapshot_marks

    store = await open_store(cfg.storage.url)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    stop = stop_on_signals()
    notifier = None  # alerts (cfg.alerts.channels), docs/ALERTS.md
    dash = None  # the dashboard (--dashboard): perpdex.cli.dashboard
    try:
        credentials = None
        if account is not None:
            from ..accounts import AccountRepository, load_vault, redact_logs
            from ..secrets import secret_values

            vault = load_vault(key_file, config_key_file=cfg.accounts.key_file)
            credentials = await AccountRepository(store.sessions).credentials(account, vault)
            redact_logs(secret_values(credentials))
            console.print(f"account [bold]{account}[/]: credentials for {', '.join(credentials) or 'no exchange'}"
                          + "".join(f"; {n} is not enabled in the config" for n in credentials
                                    if n not in cfg.enabled_exchanges)
                          + "".join(f"; {n} keeps the config's credentials" for n in cfg.enabled_exchanges
                                    if n not in credentials), highlight=False)
        async with runtime(cfg, credentials=credentials) as rt:
            if rt.cluster is not None:
                where = ", ".join(f"{n} at {e['rest_url']}" for n, e in rt.cluster.endpoints.items())
                console.print(f"[dim]emulator running: {where}[/]")

            def on_event(msg: str) -> None:
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {escape(msg)}", soft_wrap=True)

            strategies = build_strategies(cfg, rt, store, account=account, on_event=on_event)
            if dashboard is not None:
                from ..api.live import LiveRun
                from .dashboard import start_dashboard

                dash = await start_dashboard(cfg, store, LiveRun(strategies[0].runtime, strategies), *dashboard,
                                             verbose=verbose)
                console.print(f"dashboard at [bold]{dash.url}[/] (read-only)", highlight=False)
            arbs = [s for s in strategies if isinstance(s, FundingArbStrategy)]
            trt = strategies[0].runtime
            notifier = await start_alerts(cfg, trt, console)
            if dash is not None and notifier is not None:  # the page's /health shows the alert counters
                dash.server.config.app.state.alerts = notifier
            if cfg.metrics.port is not None:
                from ..metrics import PerpdexCollector, serve_metrics

                collector = PerpdexCollector(
                    lambda: [c.feed for c in rt.clients.values()], trt.prices.counters,
                    user_streams=lambda: [c.user_stream for c in rt.clients.values() if c.user_stream is not None],
                    alerts=notifier.stats if notifier is not None else None)
                serve_metrics(cfg.metrics.port, collector, cfg.metrics.host)
                console.print(f"[dim]metrics at http://{cfg.metrics.host}:{cfg.metrics.port}/metrics[/]")
            with console.status("connecting to exchanges..."):
                await trt.start()  # every exchange that answers; fewer than two up: one error line
                for strategy in strategies:
                    await strategy.start()
            down = trt.health.down()
            console.print("running " + ", ".join(f"{s.name} ({s.kind})" for s in strategies)
                          + f" on {', '.join(trt.health.up())}"
                          + (f" for {duration:.0f}s" if duration else " (Ctrl-C to stop)")
                          + "".join(f"; {n} is down ({escape(r)}), retried with back-off" for n, r in down.items()),
                          soft_wrap=True)
            outcomes = await asyncio.gather(*(s.run(duration, stop) for s in strategies), return_exceptions=True)
            for s, outcome in zip(strategies, outcomes):
                if isinstance(outcome, BaseException):
                    log.error("strategy %s stopped on an error: %r", s.name, outcome)
                    console.print(f"[red]strategy {s.name} stopped on an error: {outcome!r}[/]")
            if notifier is not None:
                await notifier.close()  # drained while the clients are still open
            first = arbs[0] if arbs else None
            result = await build_report(store, first.first_snapshot if first else None,
                                        [o for a in arbs for o in a.chosen],
                                        duration_s=time.monotonic() - started, since=started_at, account=account,
                                        marks=snapshot_marks(first.last_snapshot if first else None),
                                        errors=(first.last_snapshot.errors if first and first.last_snapshot else {}))
            grids = [s for s in strategies if not isinstance(s, FundingArbStrategy)]
            result["grids"] = [await g.report() for g in grids]
            for g in grids:
                await g.stop()
    finally:
        if notifier is not None:
            await notifier.close()
        if dash is not None:
            await dash.stop()
        await store.close()
    if report_path is not None:
        write_private_text(report_path, json.dumps(result, indent=2))
    return result


# --------------------------------------------------------------------------------------------------
@app.command()
def book(
    exchange: str = typer.Argument(..., help=f"Exchange name: {', '.join(registry.names())}."),
    symbol: str = typer.Argument(..., help="Canonical symbol, e.g. BTC."),
    config: Path | None = ConfigOpt,
    levels: int = typer.Option(10, "--levels", "-n", min=1, max=500, help="Levels per side."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    once: bool = typer.Option(False, "--once", help="Print one book and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Print the live L2 book of SYMBOL on EXCHANGE from the WebSocket feed (a REST snapshot,
    labelled so, while the WebSocket book is not ready)."""
    cfg = load_app_config(config, verbose)
    if exchange not in cfg.exchanges:
        err_console.print(f"[bold red]error:[/] exchange '{exchange}' is not in {config} (has: "
                          f"{', '.join(cfg.exchanges)})", soft_wrap=True)
        raise typer.Exit(2)
    run_async(_book(cfg, exchange, symbol.upper(), levels, as_json, once))


#: seconds ``perpdex book`` gives the WebSocket book before showing the REST one meanwhile
BOOK_WS_GRACE_S = 3.0


async def _depth_with_source(client: Any, symbol: str, levels: int) -> tuple[Any, str]:
    """The live WebSocket book, else one REST snapshot (labelled so) while the feed is not ready."""
    depth = client.feed_depth(symbol, levels)
    if depth is not None:
        return depth, "WebSocket"
    return await client.fetch_order_book_rest(symbol, levels), "REST: WebSocket book not ready"


async def _book(cfg: AppConfig, exchange: str, symbol: str, levels: int, as_json: bool, once: bool) -> None:
    from ..app import runtime
    from .scan import only_exchanges

    async with runtime(only_exchanges(cfg, [exchange]) if cfg.exchanges[exchange].enabled else cfg) as rt:
        client = rt.clients[exchange]
        await client.connect()
        await client.prepare_market_feed(symbol)
        await client.feed.wait_ready(symbol, BOOK_WS_GRACE_S)  # not ready: REST meanwhile, labelled
        if once or as_json:
            while True:  # JSON: one line per second (a stream a program can read); --once: one book
                depth, source = await _depth_with_source(client, symbol, levels)
                if as_json:
                    print(json.dumps({"exchange": exchange, "symbol": symbol, "source": source.split(":")[0],
                                      "bids": [[str(lv["price"]), str(lv["size"])] for lv in depth["bids"]],
                                      "asks": [[str(lv["price"]), str(lv["size"])] for lv in depth["asks"]]}), flush=True)
                else:
                    console.print(render.book_table(exchange, symbol, depth, source))
                if once:
                    return
                await asyncio.sleep(1.0)
        from rich.live import Live

        with Live(console=console, refresh_per_second=4) as live:
            while True:  # until Ctrl-C
                depth, source = await _depth_with_source(client, symbol, levels)
                live.update(render.book_table(exchange, symbol, depth, source))
                await asyncio.sleep(0.25 if source == "WebSocket" else 1.0)


# --------------------------------------------------------------------------------------------------
@app.command()
def status(
    config: Path | None = ConfigOpt,
    symbols: str = typer.Option("BTC", "--symbols", "-s", help="Comma-separated symbols whose books to check."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Health check: per exchange the market catalog, the WebSocket books of --symbols (state,
    frames, bytes, resyncs, age, best bid/ask), and the positions recorded in the store."""
    cfg = load_app_config(config, verbose)
    result = run_async(_status(cfg, [s.strip().upper() for s in symbols.split(",") if s.strip()]))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        render.status_tables(console, result)
        if result["down"]:
            console.print(f"{len(result['down'])} of {len(result['exchanges'])} exchange(s) down: "
                          + ", ".join(result["down"]), style="yellow", highlight=False, soft_wrap=True)
    if result["exchanges"] and len(result["down"]) == len(result["exchanges"]):
        raise typer.Exit(1)  # every exchange failed


async def _status(cfg: AppConfig, symbols: list[str]) -> dict[str, Any]:
    from ..app import runtime
    from ..storage import open_store

    store = await open_store(cfg.storage.url)  # a store that cannot open: one line, before any exchange
    out: dict[str, Any] = {"exchanges": {}, "positions": [], "down": []}
    async with runtime(cfg) as rt:

        async def one(name: str, client: Any) -> None:
            entry: dict[str, Any] = {}
            try:
                entry["markets"] = len(await client.load_contracts())
                for sym in symbols:
                    await client.prepare_market_feed(sym)
                await asyncio.gather(*(client.feed.wait_ready(sym, 10) for sym in symbols))
                entry["bbo"] = {}
                for sym in symbols:
                    depth = client.feed_depth(sym, 1)
                    if depth is not None and depth["bids"] and depth["asks"]:
                        entry["bbo"][sym] = [str(depth["bids"][0]["price"]), str(depth["asks"][0]["price"])]
                entry["feed"] = client.feed.stats()
            except PerpdexError as exc:
                entry["error"] = str(exc)
            out["exchanges"][name] = entry

        try:
            await asyncio.gather(*(one(n, c) for n, c in rt.clients.items()))
        except BaseException:
            await store.close()
            raise
    out["down"] = [n for n, e in out["exchanges"].items() if "error" in e]
    try:
        for p in await store.positions(["opening", "open", "closing", "naked"]):
            row = {"id": p.id, "symbol": p.symbol, "status": p.status, "long": p.long_exchange,
                   "short": p.short_exchange, "size": str(p.quantity), "opened_at": p.opened_at.isoformat(),
                   "backstops": await _backstops_of(cfg, store, p)}
            legs_down = [ex for ex in (p.long_exchange, p.short_exchange) if ex in out["down"]]
            if legs_down:
                row["flag"] = f"{', '.join(legs_down)} down"
            out["positions"].append(row)
    finally:
        await store.close()
    return out


async def _backstops_of(cfg: AppConfig, store: Any, p: Any) -> dict[str, str]:
    """leg -> its backstop price, or ``none: <reason>`` (runtime/backstops.py ``describe``)."""
    from ..config import GridConfig
    from ..runtime.backstops import describe

    entry = next((e for e in cfg.strategies if e.resolved_name == p.strategy), None)
    off = entry is not None and not entry.backstop.enabled
    if isinstance(entry, GridConfig) or p.long_exchange == p.short_exchange:
        return describe(await store.backstops(position_id=p.id), ["grid"], enabled=not off)
    return describe(await store.backstops(position_id=p.id), ["long", "short"], enabled=not off)


# --------------------------------------------------------------------------------------------------
@app.command()
def sim(
    endpoints_file: Path | None = typer.Option(None, "--endpoints-file", "-e", help="Write the endpoints JSON here once listening."),
    exchanges: str | None = typer.Option(None, "--exchanges", help="Comma-separated venues (default: all in the scenario)."),
    seed: int | None = typer.Option(None, "--seed", help="Market process seed (default: the scenario's)."),
    funding_time_scale: float = typer.Option(1.0, "--funding-time-scale", help="Compress funding schedules (720: 1h pays every 5 s)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Listen address (loopback by default)."),
    scenario: Path | None = typer.Option(None, "--scenario", help="Scenario YAML (default: the bundled one)."),
    recording: Path | None = typer.Option(
        None, "--recording", help="A `perpdex record` directory whose books are the market of the exchanges and "
        "symbols it holds (the others: the seeded process). See docs/RECORDING.md."),
    speed: float = typer.Option(1.0, "--speed", min=1e-6, help="With --recording: recorded seconds per second."),
    loop: bool = typer.Option(False, "--loop", help="With --recording: start over at its end (else hold the last books)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the emulated exchanges in the foreground. Once listening, writes per exchange its
    rest_url, ws_url and the ccxt constructor options to --endpoints-file."""
    setup_logging("INFO", verbose)
    names = [n.strip() for n in exchanges.split(",")] if exchanges else None
    market = {"recording": recording, "recording_speed": speed, "recording_loop": loop} if recording else {}
    run_async(_sim(names, seed, funding_time_scale, host, str(scenario) if scenario else None, endpoints_file,
                   market))


async def _sim(names, seed, scale, host, scenario, endpoints_file, market) -> None:
    from ..sim.recorded import RecordedMarketError
    from ..sim.server import start_emulators

    try:
        cluster = await start_emulators(names, seed=seed, funding_time_scale=scale, host=host, scenario=scenario,
                                        **market)
    except RecordedMarketError as exc:
        raise ConfigError("--recording", str(exc)) from None
    stop = stop_on_signals()
    try:
        if endpoints_file is not None:
            cluster.write_endpoints(endpoints_file)
        render.endpoints_table(console, cluster.endpoints)
        if cluster.market is not None:
            m = cluster.market
            held = "; ".join(f"{n}: {', '.join(syms)}" for n, syms in m.routes.items())
            console.print(f"market: the recording {m.directory} ({held}) at {m.speed:g}x, "
                          f"{'looping' if m.loop else 'holding the last books at its end'}; the rest: the seeded process")
        console.print("emulator running; Ctrl-C to stop")
        await stop.wait()
    finally:
        await cluster.stop()


def _plain_flags(cmd: Any) -> None:
    """Show on/off flags without a value type in ``--help`` (typer prints ``<bool>`` for them).
    ``cmd``: a command of typer's own (vendored) click."""
    get_help_option = cmd.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = get_help_option(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = help_option  # click builds the help option per context
    for param in cmd.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(cmd, "commands", {}).values():
        _plain_flags(sub)


def command() -> Any:
    """The click command behind :data:`app` as the ``perpdex`` console script runs it."""
    cmd = typer.main.get_command(app)
    _plain_flags(cmd)
    return cmd


def main() -> None:  # pragma: no cover - console entry
    command()()


if __name__ == "__main__":  # pragma: no cover
    main()
