"""``perpdex accounts``: named accounts whose exchange credentials are stored encrypted.

    perpdex accounts keygen KEY_FILE
    perpdex accounts add NAME --exchange X [--from-env | --from-file F|-] [--key-file F]
    perpdex accounts list [--json]
    perpdex accounts delete NAME [--exchange X] [--yes]
    perpdex accounts rotate-key --old-key-file OLD [--key-file NEW]

The store is ``--db`` (a SQLAlchemy URL), else ``storage.url`` of ``--config``, else the default
``sqlite+aiosqlite:///perpdex.db``. The master key: ``--key-file``, else ``$PERPDEX_MASTER_KEY``,
else ``$PERPDEX_MASTER_KEY_FILE``, else ``accounts.key_file`` of ``--config``. Credential values
are read from hidden prompts, the environment or a file, never from the command line, and are
never printed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..accounts import (
    AccountError,
    AccountRepository,
    Vault,
    credential_fields,
    load_vault,
    validate_account_name,
    validate_fields,
    write_key_file,
)
from ..config import AppConfig, StorageConfig, load_config
from ..errors import PerpdexError
from ..exchanges import registry

accounts_app = typer.Typer(
    no_args_is_help=True,
    help="Named trading accounts: per-exchange credentials encrypted at rest (AES-256-GCM) under a master key.",
)
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config (its storage.url and accounts.key_file).")
DbOpt = typer.Option(None, "--db", help="Store URL (overrides the config's storage.url).")
KeyFileOpt = typer.Option(None, "--key-file", "-k",
                          help="Master key file (mode 0600); default $PERPDEX_MASTER_KEY / $PERPDEX_MASTER_KEY_FILE.")


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _config(config: Path | None) -> AppConfig | None:
    if config is None:
        return None
    try:
        return load_config(config)
    except PerpdexError as exc:
        raise _fail(exc, 2) from None


def _store_url(cfg: AppConfig | None, db: str | None) -> str:
    return db or (cfg.storage.url if cfg else StorageConfig().url)


def _vault(cfg: AppConfig | None, key_file: Path | None) -> Vault:
    try:
        return load_vault(key_file, config_key_file=cfg.accounts.key_file if cfg else None)
    except PerpdexError as exc:
        raise _fail(exc, 2) from None


def _with_repo(url: str, fn: Any) -> Any:
    """Run ``await fn(repo)`` against the store at ``url``; perpdex errors end the command (exit 1)."""
    import asyncio

    from ..storage import open_store

    async def go() -> Any:
        store = await open_store(url)  # ConfigError naming storage.url, bounded in time
        try:
            return await fn(AccountRepository(store.sessions))
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except PerpdexError as exc:
        raise _fail(exc) from None


# --------------------------------------------------------------------------------------------------
@accounts_app.command()
def keygen(key_file: Path = typer.Argument(..., help="Where to write the new key (created with mode 0600; never overwritten).")) -> None:
    """Create a new random master key file (mode 0600) and print its key_id."""
    try:
        vault = write_key_file(key_file)
    except PerpdexError as exc:
        raise _fail(exc, 2) from None
    console.print(f"wrote master key [bold]{key_file}[/] (key_id {vault.key_id}); keep it safe and out of the "
                  f"repository, then: export PERPDEX_MASTER_KEY_FILE={key_file}", highlight=False)


def _fields_from_file(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).expanduser().read_text()
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError:
        data = None  # the parser's message may quote the text
    if not isinstance(data, dict):
        raise AccountError(f"{'stdin' if source == '-' else source}: expected a mapping of credential fields "
                           "(JSON or YAML)")
    return data


def _fields_from_env(exchange: str, prefix: str | None) -> dict[str, Any]:
    required, optional = credential_fields(exchange)
    prefix = prefix if prefix is not None else f"PERPDEX_{exchange.upper()}_"
    out: dict[str, Any] = {}
    for name in (*required, *optional):
        var = prefix + name.upper()
        if os.environ.get(var):
            out[name] = os.environ[var]
        elif name in required:
            raise AccountError(f"{exchange} credentials: ${var} is not set (field {name})")
    return out


def _fields_from_prompts(exchange: str) -> dict[str, Any]:
    required, optional = credential_fields(exchange)
    out: dict[str, Any] = {}
    for name in required:
        out[name] = typer.prompt(f"{exchange} {name}", hide_input=True)
    for name in optional:
        value = typer.prompt(f"{exchange} {name} (optional, Enter to skip)", default="", hide_input=True,
                             show_default=False)
        if value:
            out[name] = value
    return out


@accounts_app.command()
def add(
    name: str = typer.Argument(..., help="Account name (letters, digits, _ . -)."),
    exchange: str = typer.Option(..., "--exchange", "-x", help=f"Exchange: {', '.join(registry.names())}."),
    from_env: bool = typer.Option(False, "--from-env", help="Read each field from $PERPDEX_<EXCHANGE>_<FIELD> (see --env-prefix)."),
    env_prefix: str | None = typer.Option(None, "--env-prefix", help="Prefix of the variables read by --from-env."),
    from_file: str | None = typer.Option(None, "--from-file", help="JSON/YAML mapping of the fields ('-': stdin)."),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    key_file: Path | None = KeyFileOpt,
) -> None:
    """Add (or replace) one exchange's credentials of account NAME, encrypted with the master key.
    Without --from-env/--from-file each field is asked for with hidden input."""
    if from_env and from_file:
        raise _fail(AccountError("use either --from-env or --from-file"), 2)
    cfg = _config(config)
    vault = _vault(cfg, key_file)
    try:
        validate_account_name(name)
        if from_file:
            fields = _fields_from_file(from_file)
        elif from_env:
            fields = _fields_from_env(exchange, env_prefix)
        else:
            fields = _fields_from_prompts(exchange)
        fields = validate_fields(exchange, fields)
    except (PerpdexError, OSError) as exc:
        raise _fail(exc, 2) from None
    created = _with_repo(_store_url(cfg, db), lambda repo: repo.set_credentials(name, exchange, fields, vault))
    console.print(f"{'created account' if created else 'account'} [bold]{name}[/]: {exchange} credentials "
                  f"({', '.join(sorted(fields))}) stored, key_id {vault.key_id}", highlight=False)


@accounts_app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Accounts with their exchanges, key_id and update time (never credential values; no key needed)."""
    cfg = _config(config)
    accounts = _with_repo(_store_url(cfg, db), lambda repo: repo.list())
    if as_json:
        print(json.dumps([{"name": a.name, "created_at": a.created_at.isoformat(),
                           "credentials": [{"exchange": c.exchange, "key_id": c.key_id,
                                            "updated_at": c.updated_at.isoformat()} for c in a.credentials]}
                          for a in accounts], indent=2))
        return
    table = Table(title="accounts")
    for col in ("account", "exchange", "key_id", "updated (UTC)", "created (UTC)"):
        table.add_column(col)
    for a in accounts:
        created = a.created_at.strftime("%Y-%m-%d %H:%M:%S")
        if not a.credentials:
            table.add_row(a.name, "-", "-", "-", created)
        for c in a.credentials:
            table.add_row(a.name, c.exchange, c.key_id, c.updated_at.strftime("%Y-%m-%d %H:%M:%S"), created)
    console.print(table)


@accounts_app.command()
def delete(
    name: str = typer.Argument(..., help="Account name."),
    exchange: str | None = typer.Option(None, "--exchange", "-x", help="Delete only this exchange's credentials."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Delete account NAME and its credentials (or only --exchange's). Its positions stay in the store."""
    cfg = _config(config)
    what = f"{exchange} credentials of account '{name}'" if exchange else f"account '{name}' and all its credentials"
    if not yes and not typer.confirm(f"delete {what}?"):
        raise typer.Exit(1)
    _with_repo(_store_url(cfg, db), lambda repo: repo.delete(name, exchange))
    console.print(f"deleted {what}", highlight=False)


@accounts_app.command("rotate-key")
def rotate_key(
    old_key_file: Path | None = typer.Option(None, "--old-key-file",
                                                help="The current key; default $PERPDEX_OLD_MASTER_KEY / $PERPDEX_OLD_MASTER_KEY_FILE."),
    key_file: Path | None = KeyFileOpt,
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Re-encrypt every stored credential from the old master key to the new one (--key-file or
    the usual sources), in one transaction: all or nothing."""
    cfg = _config(config)
    try:
        old = load_vault(old_key_file, old=True)
    except PerpdexError as exc:
        raise _fail(exc, 2) from None
    new = _vault(cfg, key_file)
    count = _with_repo(_store_url(cfg, db), lambda repo: repo.rotate_key(old, new))
    console.print(f"re-encrypted {count} credential set(s): key_id {old.key_id} -> {new.key_id}", highlight=False)
