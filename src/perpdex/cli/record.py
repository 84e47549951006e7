"""``perpdex record`` and ``perpdex replay`` (see docs/RECORDING.md).

    perpdex record --config F --symbols BTC,ETH [--exchanges aster,lighter] --out DIR [--duration S]
    perpdex replay DIR [--speed N | max] [--levels N] [--json]
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from .common import console, err_console, load_app_config, run_async, setup_logging, stop_on_signals


def _csv(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def _mb(n: int | None) -> str:
    return f"{(n or 0) / 1e6:.2f} MB"


def record(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config file (see configs/sim.yml): exchanges, URLs, "
                                "sim (with sim.enabled the emulator's traffic is recorded)."),
    symbols: str = typer.Option(..., "--symbols", "-s", help="Comma-separated canonical symbols, e.g. BTC,ETH."),
    out: Path = typer.Option(..., "--out", "-o", help="Recording directory (created; must not hold a recording)."),
    exchanges: str | None = typer.Option(None, "--exchanges", "-e", help="Comma-separated exchanges "
                                            "(default: every enabled one in the config)."),
    duration: float | None = typer.Option(None, "--duration", "-d", min=0.1, help="Stop after this many seconds "
                                             "(default: until Ctrl-C)."),
    max_file_mb: float = typer.Option(256, "--max-file-mb", min=0.01, help="Rotate a file at this compressed size (MB)."),
    max_file_age: float = typer.Option(3600, "--max-file-age", min=1, help="Rotate a file after this many seconds."),
    funding: bool = typer.Option(True, "--funding/--no-funding", help="Also subscribe and record the exchanges' "
                                 "public funding / mark-price streams (on by default)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
) -> None:
    """Record every WebSocket frame the market feeds receive (books, BBO and, unless
    --no-funding, the public funding streams; with its receive time in ns and connection id) and
    the REST snapshots they fetch, into zstd-compressed rotating files plus a
    manifest.json. Prints frames, drops and disk use per exchange while running and at the end."""
    from ..recording.record import record as run_record
    from ..recording.writer import MANIFEST

    cfg = load_app_config(config, verbose)
    syms = [s.upper() for s in _csv(symbols)]
    if not syms:
        raise typer.BadParameter("give at least one symbol", param_hint="--symbols")
    if (out / MANIFEST).exists():
        raise typer.BadParameter(f"{out} already holds a recording", param_hint="--out")

    async def go() -> dict[str, Any]:
        from rich.live import Live

        stop = stop_on_signals()
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            def tick(recorder: Any, elapsed: float) -> None:
                live.update(_progress_table(recorder.stats(), elapsed, duration))

            return await run_record(cfg, syms, out, exchanges=_csv(exchanges) or None, duration=duration, stop=stop,
                                    on_tick=tick, recorder_options={"max_file_bytes": int(max_file_mb * 1e6),
                                                                    "max_file_age_s": max_file_age},
                                    funding=funding)

    started = time.monotonic()
    manifest = run_async(go())
    console.print(_summary_table(manifest, time.monotonic() - started))
    console.print(f"recording written to [bold]{out}[/] (manifest: {out / MANIFEST})")


def _progress_table(stats: dict[str, dict[str, Any]], elapsed: float, duration: float | None) -> Table:
    title = f"recording {elapsed:.0f}s" + (f" / {duration:.0f}s" if duration else " (Ctrl-C to stop)")
    t = Table(title=title)
    for col in ("exchange", "frames", "dropped", "queued", "on disk"):
        t.add_column(col, justify="left" if col == "exchange" else "right")
    for name, s in stats.items():
        t.add_row(name, str(s["frames"]), str(s["dropped"]), _mb(s["pending_bytes"]), _mb(s["bytes_on_disk"]))
    return t


def _summary_table(manifest: dict[str, Any], elapsed: float) -> Table:
    t = Table(title=f"recorded {elapsed:.1f}s")
    for col in ("exchange", "frames", "frames/s", "dropped", "REST", "files", "on disk", "bytes/frame"):
        t.add_column(col, justify="left" if col == "exchange" else "right")
    for name, e in manifest.get("exchanges", {}).items():
        t.add_row(name, str(e["frames"]), f"{e['frames'] / max(elapsed, 1e-9):.0f}",
                  ("[red]" if e["dropped"] else "") + str(e["dropped"]), str(e["rest"]), str(len(e["files"])),
                  _mb(e["bytes_on_disk"]), str(e["bytes_per_frame"]))
    return t


def _speed(value: str) -> float | None:
    if value.lower() == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a number or 'max'", param_hint="--speed") from None
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    return speed


def replay(
    directory: Path = typer.Argument(..., help="A directory written by perpdex record."),
    speed: str = typer.Option("max", "--speed", help="Replay speed: N times the recorded pace, or 'max' "
                              "(as fast as the feeds consume)."),
    exchanges: str | None = typer.Option(None, "--exchanges", "-e", help="Comma-separated exchanges (default: all recorded)."),
    levels: int = typer.Option(10, "--levels", "-n", min=1, max=1000, help="Levels per side to print."),
    as_json: bool = typer.Option(False, "--json", help="Print the books and the summary as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
) -> None:
    """Rebuild the books of a recording with the live feed classes (same parser, snapshot sync
    and gap detection) and print them, with the last funding rate per exchange and symbol
    decoded from the recorded funding streams; damaged parts of the files are reported with the file and
    byte offset and the replay goes on from the next valid record."""
    from ..recording.replay import open_replay

    setup_logging("WARNING", verbose)
    pace = _speed(speed)

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], float]:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        try:
            rp = await open_replay(directory, speed=pace, exchanges=_csv(exchanges) or None)
        except (FileNotFoundError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from None
        total = sum(e.get("frames", 0) - e.get("dropped", 0) for n, e in rp.manifest["exchanges"].items() if n in rp.exchanges)
        started = time.perf_counter()
        try:
            with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} frames"),
                          TimeElapsedColumn(), console=err_console, transient=True, disable=as_json) as progress:
                task = progress.add_task("replay", total=total or None)
                await rp.wait(lambda r: progress.update(task, completed=r.frames()))
            elapsed = time.perf_counter() - started
            return rp.books(levels), rp.funding(), rp.summary(), elapsed
        finally:
            await rp.close()

    books, funding, summary, elapsed = run_async(go())
    if as_json:
        print(json.dumps({"books": books, "funding": funding, "summary": summary, "elapsed_s": round(elapsed, 3)},
                         indent=2, default=str))
        return
    from .render import book_table

    for name, syms in books.items():
        for sym, b in syms.items():
            if not b["ready"]:
                console.print(f"[yellow]{name} {sym}: no book at the end of the recording ({b['reason']})[/]")
                continue
            depth = {side: [{"price": Decimal(str(p)), "size": Decimal(str(s))} for p, s in b[side]]
                     for side in ("bids", "asks")}
            console.print(book_table(name, sym, depth))
    if any(funding.values()):
        console.print(_funding_table(funding))
    frames = sum(s["frames"] for s in summary.values())
    t = Table(title=f"replayed {frames} frames in {elapsed:.2f}s ({frames / max(elapsed, 1e-9):,.0f} frames/s)")
    for col in ("exchange", "frames", "REST", "connections", "resyncs", "dropped", "damaged"):
        t.add_column(col, justify="left" if col == "exchange" else "right")
    for name, s in summary.items():
        t.add_row(name, str(s["frames"]), str(s["rest"]), str(s["connections"]), str(s["resyncs"]), str(s["dropped"]),
                  ("[red]" if s["errors"] else "") + str(len(s["errors"])))
    console.print(t)
    for name, s in summary.items():
        for e in s["errors"]:
            console.print(f"[red]{name}: {e}[/]")


def _funding_table(funding: dict[str, dict[str, dict[str, Any]]]) -> Table:
    """The last recorded funding sample per exchange and symbol."""
    t = Table(title="funding at the end of the recording (public funding streams)")
    for col in ("exchange", "symbol", "rate / interval", "interval", "rate / 8h", "APR", "mark", "next funding (UTC)"):
        t.add_column(col, justify="left" if col in ("exchange", "symbol") else "right")
    for name, syms in funding.items():
        for sym, f in sorted(syms.items()):
            t.add_row(name, sym, f"{float(f['rate']) * 100:.5f}%", f"{float(f['interval_hours']):g}h",
                      f"{float(f['rate_8h']) * 100:.5f}%", f"{float(f['apr']) * 100:.2f}%",
                      "" if f["mark_price"] is None else f"{float(f['mark_price']):,.6g}",
                      (f["next_funding_time"] or "-")[:19].replace("T", " "))
    return t
