"""What every ``perpdex`` command shares: the consoles, logging setup, loading the config (exit
code 2 on a bad one), running a coroutine with perpdex errors as exit code 1, and the stop event
of SIGINT/SIGTERM. Imported by :mod:`perpdex.cli.main` and the command modules alike."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ..config import AppConfig, load_config
from ..errors import ConfigError, PerpdexError

# a pipe or CI log gets a wide console rather than rich's 80-column default, so tables stay readable
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def setup_logging(level: str, verbose: bool) -> None:
    """Log to stderr at ``level`` (a logging level name), DEBUG with ``verbose``; without it the
    libraries (and perpdex's own progress lines) stay at WARNING. Masks credential-derived tokens."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # the console shows progress; library chatter stays at WARNING unless --verbose
    if not verbose:
        for noisy in ("perpdex", "aiohttp", "ccxt", "sqlalchemy"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # tokens derived from credentials (auth tokens, JWTs, listen keys) never reach a log line
    from ..secrets import install_log_mask

    install_log_mask()


def load_app_config(path: Path | None, verbose: bool) -> AppConfig:
    """The config at ``path`` (None: the default locations), with logging set up at its
    ``log_level``; a :class:`~perpdex.errors.ConfigError` is printed and exits with code 2."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    setup_logging(cfg.log_level, verbose)
    return cfg


def run_async(coro: Any, *, interrupted: str = "") -> Any:
    """``asyncio.run(coro)``; a :class:`~perpdex.errors.PerpdexError` is printed and exits with
    code 1, Ctrl-C prints "interrupted" (followed by ``interrupted``, what the user should know)
    and exits with 130."""
    try:
        return asyncio.run(coro)
    except PerpdexError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]{': ' + interrupted if interrupted else ''}")
        raise typer.Exit(130) from None


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM, so a run stops cleanly (report written, sockets closed).
    Call inside the running loop."""
    stop = asyncio.Event()
    if sys.platform == "win32":  # asyncio has no signal handlers there; Ctrl-C raises KeyboardInterrupt
        return stop
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except RuntimeError:  # not the main thread's loop: the caller stops the run itself
            pass
    return stop
