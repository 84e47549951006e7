"""``perpdex history``: settled funding history, downloaded from each exchange into the store.

    perpdex history fetch --config F --since DATE [--until DATE] [--exchanges a,b] [--symbols BTC,ETH]
    perpdex history show --config F [--exchanges a,b] [--json]

``fetch`` adds only what is missing (from the newest stored settlement of each exchange and
symbol), stores every page as it arrives (Ctrl-C loses at most one page; run it again to resume)
and ends with a summary per exchange. See docs/FUNDING_HISTORY.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import AppConfig
from ..errors import PerpdexError
from ..funding.download import DownloadResult, DownloadTask, default_symbols, plan_downloads, run_downloads
from ..funding.settled import SettledFundingStore
from .common import load_app_config, run_async

history_app = typer.Typer(no_args_is_help=True, help="Settled funding-rate history: download it into the "
                                                     "store, show what is stored.")
console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config (its exchanges, sim and storage.url).")
ExchangesOpt = typer.Option(None, "--exchanges", "-e", help="Comma-separated exchanges (default: every enabled one).")

_RELATIVE = re.compile(r"^(\d+)([dh])$")


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """``2025-06-01``, ``2025-06-01T12:00`` (UTC unless an offset is given), ``now``, or a time
    back from now: ``30d``, ``12h``. Raises typer.BadParameter otherwise."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        n = int(m.group(1))
        return now - (timedelta(days=n) if m.group(2) == "d" else timedelta(hours=n))
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected a date (2025-06-01), a UTC time (2025-06-01T12:00), "
                                 "'now' or a time back from now (30d, 12h)") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _csv(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


def _load(path: Path | None, verbose: bool) -> AppConfig:
    cfg = load_app_config(path, verbose)
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # the store's migration chatter
    return cfg


def _exchanges(cfg: AppConfig, wanted: list[str] | None) -> list[str]:
    names = cfg.enabled_exchanges
    if wanted is None:
        return names
    unknown = [w for w in wanted if w not in cfg.exchanges]
    if unknown:
        err_console.print(f"[bold red]error:[/] --exchanges: {', '.join(unknown)} not in the config "
                          f"(has: {', '.join(cfg.exchanges)})")
        raise typer.Exit(2)
    return wanted


def _when(ts: datetime | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


class _Bars:
    """One rich progress bar per exchange: its symbols done, the current one by time covered."""

    def __init__(self, progress: Progress, tasks: list[DownloadTask]) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}
        self.done_count: dict[str, int] = {}
        self.added: dict[str, int] = {}
        for t in tasks:
            if t.exchange not in self.bars:
                n = sum(1 for x in tasks if x.exchange == t.exchange)
                self.bars[t.exchange] = progress.add_task(t.exchange, total=n, info="")
                self.done_count[t.exchange] = 0
                self.added[t.exchange] = 0

    def _show(self, task: DownloadTask, fraction: float, added: int) -> None:
        self.progress.update(self.bars[task.exchange], completed=self.done_count[task.exchange] + fraction,
                             info=f"{task.symbol}  +{self.added[task.exchange] + added} rows")

    def page(self, task: DownloadTask, result: DownloadResult) -> None:
        covered = (result.last - task.start).total_seconds() if result.last else 0.0
        self._show(task, min(covered / task.seconds, 1.0) if task.seconds else 1.0, result.added)

    def done(self, task: DownloadTask, result: DownloadResult) -> None:
        self.done_count[task.exchange] += 1
        self.added[task.exchange] += result.added
        self._show(task, 0.0, 0)


def summary_table(results: list[DownloadResult], up_to_date: dict[str, int]) -> Table:
    """Per exchange: symbols fetched / already complete, rows received and added, the range
    received, errors."""
    table = Table(title="funding history download", title_justify="left")
    for col in ("exchange", "symbols", "up to date", "rows fetched", "rows added", "from (UTC)", "to (UTC)", "errors"):
        table.add_column(col, justify="right" if col.startswith(("rows", "symbols", "up", "errors")) else "left")
    names = list(dict.fromkeys([r.exchange for r in results] + list(up_to_date)))
    for ex in names:
        rs = [r for r in results if r.exchange == ex]
        firsts = [r.first for r in rs if r.first]
        lasts = [r.last for r in rs if r.last]
        errors = sum(1 for r in rs if r.error)
        table.add_row(ex, str(len(rs)), str(up_to_date.get(ex, 0)), str(sum(r.fetched for r in rs)),
                      str(sum(r.added for r in rs)), _when(min(firsts) if firsts else None),
                      _when(max(lasts) if lasts else None), f"[red]{errors}[/]" if errors else "0")
    return table


async def _fetch(cfg: AppConfig, exchanges: list[str], symbols: list[str] | None, since: datetime,
                 until: datetime | None, as_json: bool) -> list[DownloadResult]:
    from ..app import runtime
    from ..storage import Store

    cfg = cfg.model_copy(deep=True)
    for name, ex in cfg.exchanges.items():
        ex.enabled = name in exchanges
    store = Store(cfg.storage.url)
    try:
        await store.init()
        repo = SettledFundingStore(store.sessions)
        async with runtime(cfg) as rt:
            listed: dict[str, list[str]] = {}
            for name in exchanges:
                listed[name] = list(symbols) if symbols else sorted(await rt.clients[name].load_contracts())
            wanted = listed if symbols else default_symbols(listed)
            end = until or datetime.now(UTC)
            tasks = await plan_downloads(repo, wanted, since, end)
            planned = {(t.exchange, t.symbol) for t in tasks}
            up_to_date = {ex: sum(1 for s in syms if (ex, s) not in planned) for ex, syms in wanted.items()}
            with Progress(TextColumn("{task.description:<10}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                          TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console,
                          disable=as_json) as progress:
                bars = _Bars(progress, tasks)
                results = await run_downloads(rt.clients, repo, tasks, bars)
    finally:
        await store.close()
    if as_json:
        print(json.dumps([{"exchange": r.exchange, "symbol": r.symbol, "fetched": r.fetched, "added": r.added,
                           "pages": r.pages, "first": r.first.isoformat() if r.first else None,
                           "last": r.last.isoformat() if r.last else None, "error": r.error} for r in results]))
    else:
        console.print(summary_table(results, up_to_date))
        for r in results:
            if r.error:
                console.print(f"[red]{r.exchange} {r.symbol}:[/] {r.error}", soft_wrap=True)
        if not results:
            console.print("nothing to fetch: every symbol is stored up to the end of the window")
    return results


@history_app.command()
def fetch(
    config: Path | None = ConfigOpt,
    since: str = typer.Option(..., "--since", help="Start: 2025-06-01, 2025-06-01T12:00 (UTC) or back from now: 180d, 12h."),
    until: str | None = typer.Option(None, "--until", help="End (same forms; default now)."),
    exchanges: str | None = ExchangesOpt,
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated canonical symbols "
                                          "(default: those listed on at least two of the exchanges)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list of per-symbol results, no progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Download settled funding rates from each exchange's public history endpoint into the store.

    Only what is missing is fetched (a re-run resumes after Ctrl-C). Rows: one per exchange, symbol
    and settlement time, rate per interval, interval hours, 8h rate. Exit code 1 when a symbol
    ended with an exchange error (the others are stored)."""
    cfg = _load(config, verbose)
    names = _exchanges(cfg, _csv(exchanges))
    start = parse_when(since)
    end = parse_when(until) if until else None
    if end is not None and end <= start:
        err_console.print(f"[bold red]error:[/] --until ({_when(end)}) must be after --since ({_when(start)})", soft_wrap=True)
        raise typer.Exit(2)
    wanted = [s.upper() for s in _csv(symbols) or []] or None
    results = run_async(_fetch(cfg, names, wanted, start, end, as_json),
                        interrupted="what was stored stays; run the same command again to resume")
    if any(r.error for r in results):
        raise typer.Exit(1)


@history_app.command()
def show(
    config: Path | None = ConfigOpt,
    exchanges: str | None = ExchangesOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Show what funding history is stored: per exchange and symbol, first and last settlement and rows."""
    cfg = _load(config, verbose)
    wanted = _csv(exchanges)

    async def coverage() -> list:
        from ..storage import Store

        store = Store(cfg.storage.url)
        try:
            await store.init()
            return await SettledFundingStore(store.sessions).coverage(wanted)
        finally:
            await store.close()

    try:
        rows = asyncio.run(coverage())
    except PerpdexError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps([{"exchange": c.exchange, "symbol": c.symbol, "first": c.first.isoformat(),
                           "last": c.last.isoformat(), "rows": c.rows} for c in rows]))
        return
    table = Table(title="stored funding history", title_justify="left")
    for col in ("exchange", "symbol", "first (UTC)", "last (UTC)", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for c in rows:
        table.add_row(c.exchange, c.symbol, _when(c.first), _when(c.last), str(c.rows))
    console.print(table if rows else "no funding history stored yet: run `perpdex history fetch`")
