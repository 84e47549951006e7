"""``perpdex alerts``: check the alert channels of a config, and the notifier's start under ``run``.

    perpdex alerts test --config F [--message TEXT]

sends one test message to each channel of ``alerts.channels`` and prints, per channel, whether
the receiver accepted it (exit code 1 when one did not). See docs/ALERTS.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ..config import AppConfig, load_config
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..alerts.notifier import Notifier
    from ..runtime.core import TradingRuntime

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: Telegram and webhooks (docs/ALERTS.md).")
console = Console()
err_console = Console(stderr=True)


async def start_alerts(cfg: AppConfig, runtime: TradingRuntime, out: Console | None = None) -> Notifier | None:
    """The notifier of ``cfg.alerts`` started on ``runtime`` (its events, stream outages, the
    daily summary), its secrets masked in every log handler; None when no channel is configured."""
    if not cfg.alerts.enabled:
        return None
    from ..accounts import redact_logs
    from ..alerts.notifier import Notifier

    notifier = Notifier(cfg.alerts)
    redact_logs(notifier.secret_values())
    await notifier.start_for(runtime)
    if out is not None:
        out.print("[dim]alerts to " + ", ".join(f"{c.name} ({c.type})" for c in notifier.channels) + "[/]")
    return notifier


@alerts_app.command("test")
def test(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config file with an alerts: section."),
    message: str = typer.Option("perpdex alerts test: this channel works", "--message", "-m",
                                help="The text to send."),
) -> None:
    """Send one test message to every channel of alerts.channels and print the result of each."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if not cfg.alerts.enabled:
        err_console.print(f"[bold red]error:[/] {config} has no alerts.channels")
        raise typer.Exit(2)
    results = asyncio.run(_test(cfg, message))
    for name, kind, error in results:
        console.print(f"{name} ({kind}): " + ("[green]sent[/]" if error is None else f"[red]failed: {error}[/]"),
                      highlight=False, markup=True, soft_wrap=True)
    if any(error is not None for _, _, error in results):
        raise typer.Exit(1)


async def _test(cfg: AppConfig, message: str) -> list[tuple[str, str, Any]]:
    from ..accounts import redact_logs
    from ..alerts.notifier import Notifier

    notifier = Notifier(cfg.alerts)
    redact_logs(notifier.secret_values())
    results = await notifier.send_test(message)
    return [(ch.name, ch.type, results[ch.name]) for ch in notifier.channels]
