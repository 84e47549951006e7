"""``perpdex db``: the schema of the storage database (Alembic migrations).

    perpdex db upgrade [--config F | --db URL]
    perpdex db current [--config F | --db URL]
    perpdex db revision -m MESSAGE        (developers, after changing storage/models.py)

The database is ``--db`` (a SQLAlchemy URL), else ``storage.url`` of ``--config``, else the default
``sqlite+aiosqlite:///perpdex.db``. Every bot also migrates its database when it starts
(``Store.init``); ``upgrade`` does it ahead of time, e.g. before starting several bots.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url

from ..config import StorageConfig, load_config
from ..errors import PerpdexError

db_app = typer.Typer(no_args_is_help=True, help="The storage database's schema: migrate it, show its revision.")
console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config (its storage.url).")
DbOpt = typer.Option(None, "--db", help="Database URL (overrides the config's storage.url), e.g. "
                                         "postgresql+asyncpg://user:password@host/perpdex.")


def _url(config: Path | None, db: str | None) -> str:
    if db:
        return db
    if config is None:
        return StorageConfig().url
    try:
        return load_config(config).storage.url
    except PerpdexError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: shown without anything after a scheme
        return url.split("://", 1)[0] + "://..." if "://" in url else "(not a URL)"


async def _revisions(url: str, upgrade: bool) -> tuple[str | None, str | None]:
    """(revision before, revision after); ``upgrade`` migrates to head in between."""
    from ..storage import Store

    store = Store(url)
    try:
        before = await asyncio.wait_for(store.revision(), STORE_TIMEOUT_S)
        if upgrade:
            await store.init()
        return before, await store.revision()
    finally:
        await store.close()


STORE_TIMEOUT_S = 30.0  # bound on reading the revision of a database that accepts and never answers


def _run(url: str, upgrade: bool) -> tuple[str | None, str | None]:
    from ..storage import storage_failure

    try:
        return asyncio.run(_revisions(url, upgrade))
    except Exception as exc:  # PerpdexError, or the driver's (bad URL, server down, auth) without secrets
        why = str(exc) if isinstance(exc, PerpdexError) else storage_failure(url, exc)
        err_console.print(f"[bold red]error:[/] storage.url {escape(_shown(url))}: cannot open the store: "
                          f"{escape(why)}", soft_wrap=True)
        raise typer.Exit(1) from None


@db_app.command()
def upgrade(config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """Migrate the database to this version's schema (creates it when empty; adopts one created by
    an earlier perpdex). Safe to run while bots start: upgrades are serialized."""
    from ..storage.migrate import head_revision

    url = _url(config, db)
    before, after = _run(url, upgrade=True)
    if before == after:
        console.print(f"{_shown(url)}: already at revision {after} (head)")
    else:
        console.print(f"{_shown(url)}: upgraded from {before or 'no schema'} to revision {after}"
                      f"{' (head)' if after == head_revision() else ''}")


@db_app.command()
def current(config: Path | None = ConfigOpt, db: str | None = DbOpt) -> None:
    """Show the database's schema revision and whether it is the newest (head)."""
    from ..storage.migrate import head_revision

    url = _url(config, db)
    _, rev = _run(url, upgrade=False)
    head = head_revision()
    if rev == head:
        console.print(f"{_shown(url)}: revision {rev} (head)")
    else:
        console.print(f"{_shown(url)}: revision {rev or 'none'}, head is {head}: run `perpdex db upgrade` "
                      "(bots also upgrade when they start)")


@db_app.command()
def revision(
    message: str = typer.Option(..., "--message", "-m", help="What the schema change is, e.g. 'add orders table'."),
    versions_dir: Path | None = typer.Option(None, "--versions-dir", hidden=True),
) -> None:
    """Write the next migration script from the difference between storage/models.py and the
    existing migrations (Alembic autogenerate); review it before committing."""
    from ..storage.migrate import new_revision

    try:
        path = new_revision(message, versions_dir)
    except PerpdexError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"wrote {path}: review it, run the storage tests, commit it")
