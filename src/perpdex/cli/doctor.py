"""``perpdex doctor``: is this install ready to trade? One table, one row per check.

Checks, in order: the Python and perpdex versions; each exchange's request signer (an offline
sign-and-verify with a throw-away key, :meth:`ExchangeClient.signer_self_test`); the storage
(reachable within a bound, its schema revision against this version's head; nothing is written);
each enabled exchange of the config (its market catalog loaded within a bound, the REST round
trip, and the clock skew read from the HTTP ``Date`` header of its answer). Exit code 0 when no
check failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..config import AppConfig, StorageConfig, load_config
from ..errors import PerpdexError
from ..exchanges import registry

#: a clock further off than this (seconds) is a warning: exchanges refuse signed requests outside
#: their receive window (Aster's default ``recvWindow`` is 5 s), and funding times shift
SKEW_WARN_S = 1.0
SKEW_FAIL_S = 5.0


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One row: what was checked, its status, and a one-line detail (never a secret)."""

    name: str
    status: Status
    detail: str


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check_install() -> list[Check]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        perpdex_version = version("perpdex")
    except PackageNotFoundError:
        perpdex_version = "not installed as a package (running from source)"
    py = sys.version_info
    status = Status.OK if py >= (3, 11) else Status.FAIL
    return [Check("python", status, f"{py.major}.{py.minor}.{py.micro} ({sys.executable})"),
            Check("perpdex", Status.OK, perpdex_version)]


def check_signers(names: list[str]) -> list[Check]:
    """One row per exchange: its signer's offline self-test."""
    out = []
    for name in names:
        try:
            detail = registry.client_class(name).signer_self_test()
            out.append(Check(f"signer {name}", Status.OK, detail))
        except Exception as exc:  # noqa: BLE001 - every failure is a row, never a traceback
            out.append(Check(f"signer {name}", Status.FAIL, _one_line(exc)))
    return out


async def check_storage(url: str, timeout_s: float) -> Check:
    """Connect (bounded by ``timeout_s``), read the schema revision, compare with the head."""
    from sqlalchemy.engine import make_url

    from ..storage import Store
    from ..storage.migrate import head_revision

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported below by the store itself
        shown = "storage.url"
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
                and not Path(parsed.database).exists():
            return Check("storage", Status.WARN, f"{shown}: no database file yet (created on first use)")
    except Exception:  # noqa: BLE001 - an unparsable URL is reported below by the store itself
        pass
    store = Store(url)
    try:
        current = await asyncio.wait_for(store.revision(), timeout_s)
    except TimeoutError:
        return Check("storage", Status.FAIL, f"{shown}: no answer within {timeout_s:.0f}s (storage.url)")
    except Exception as exc:  # noqa: BLE001 - driver errors carry no secret (the URL is shown masked)
        return Check("storage", Status.FAIL, f"{shown}: {_one_line(exc)} (storage.url)")
    finally:
        try:
            await asyncio.wait_for(store.close(), timeout_s)
        except Exception:  # noqa: BLE001 - closing a store that never opened
            pass
    head = head_revision()
    if current is None:
        return Check("storage", Status.WARN, f"{shown}: empty (perpdex creates the schema on first use, "
                                             f"or run `perpdex db upgrade`)")
    if current != head:
        return Check("storage", Status.WARN, f"{shown}: schema {current}, this version's is {head} "
                                             f"(run `perpdex db upgrade`)")
    return Check("storage", Status.OK, f"{shown}: schema at head {head}")


def clock_skew_s(date_header: str | None, sent: float, received: float) -> float | None:
    """Server minus local clock in seconds from an HTTP ``Date`` header (1 s resolution),
    compared with the midpoint of the request; None without a usable header."""
    if not date_header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    # the header is truncated to the second: the server's clock was somewhere in [Date, Date + 1)
    return server.timestamp() + 0.5 - (sent + received) / 2


async def _http_date(url: str | None, timeout_s: float) -> tuple[str | None, float, float]:
    import aiohttp

    if url is None:
        raise ValueError("no REST URL configured")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        sent = time.time()
        async with session.get(url, allow_redirects=False) as resp:
            return resp.headers.get("Date"), sent, time.time()


async def check_exchanges(cfg: AppConfig, timeout_s: float) -> list[Check]:
    """For every enabled exchange: catalog within ``timeout_s`` and the clock skew."""
    from ..app import runtime

    out: list[Check] = []
    async with runtime(cfg) as rt:
        for name, client in rt.clients.items():
            where = "emulated" if rt.cluster is not None else client.settings.rest_url
            started = time.monotonic()
            try:
                catalog = await asyncio.wait_for(client.load_contracts(), timeout_s)
                ms = (time.monotonic() - started) * 1000
                out.append(Check(f"exchange {name}", Status.OK, f"{where}: {len(catalog)} markets, catalog in {ms:.0f} ms"))
            except TimeoutError:
                out.append(Check(f"exchange {name}", Status.FAIL, f"{where}: no answer within {timeout_s:.0f}s"))
                continue
            except Exception as exc:  # noqa: BLE001 - a down exchange is a row
                out.append(Check(f"exchange {name}", Status.FAIL, f"{where}: {_one_line(exc)}"))
                continue
            try:
                header, sent, received = await _http_date(client.settings.rest_url, timeout_s)
                skew = clock_skew_s(header, sent, received)
            except Exception as exc:  # noqa: BLE001 - no Date header is a warning, not a failure
                out.append(Check(f"clock vs {name}", Status.WARN, f"not measured: {_one_line(exc)}"))
                continue
            if skew is None:
                out.append(Check(f"clock vs {name}", Status.WARN, "not measured: no Date header"))
            else:
                status = Status.OK if abs(skew) <= SKEW_WARN_S else Status.WARN if abs(skew) <= SKEW_FAIL_S else Status.FAIL
                out.append(Check(f"clock vs {name}", status, f"{skew:+.1f} s (server minus local, 1 s resolution)"))
    return out


async def run_checks(cfg: AppConfig | None, timeout_s: float) -> list[Check]:
    """Every check of the doctor, in table order; never raises."""
    checks = check_install() + check_signers(registry.names())
    url = cfg.storage.url if cfg is not None else StorageConfig().url
    checks.append(await check_storage(url, timeout_s))
    if cfg is not None:
        try:
            checks += await check_exchanges(cfg, timeout_s)
        except PerpdexError as exc:
            checks.append(Check("exchanges", Status.FAIL, str(exc)))
    return checks


_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def doctor(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config whose storage and exchanges "
                                          "are checked (without one: the install and the default storage)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds allowed for each network check."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check this install: signers present and signing, storage reachable and migrated, each
    configured exchange reachable, clock skew. Exit code 1 when a check fails."""
    import json

    console = Console(width=None if sys.stdout.isatty() else 160)
    cfg = None
    if config is not None:
        try:
            cfg = load_config(config)
        except PerpdexError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
    checks = asyncio.run(run_checks(cfg, timeout))
    failed = sum(c.status is Status.FAIL for c in checks)
    if as_json:
        print(json.dumps({"checked_at": datetime.now(UTC).isoformat(), "failed": failed,
                          "checks": [{"name": c.name, "status": c.status.value, "detail": c.detail} for c in checks]},
                         indent=2))
    else:
        table = Table(title="perpdex doctor")
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status.value}[/]", c.detail)
        console.print(table)
        warned = sum(c.status is Status.WARN for c in checks)
        console.print(f"{len(checks)} checks: {failed} failed, {warned} warnings")
    if failed:
        raise typer.Exit(1)
