"""``perpdex db``: upgrade / current on SQLite and PostgreSQL, and writing the next migration."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from typer.testing import CliRunner

from perpdex.cli.main import app
from perpdex.storage.migrate import MIGRATIONS_DIR, alembic_config, context_options
from perpdex.storage.models import Base

ROOT = Path(__file__).resolve().parents[2]


def db(*args: str):
    return CliRunner().invoke(app, ["db", *args])


def test_upgrade_then_current_on_each_backend(store_url):
    assert "revision none, head is 0004" in db("current", "--db", store_url).output
    res = db("upgrade", "--db", store_url)
    assert res.exit_code == 0 and "upgraded from no schema to revision 0004 (head)" in res.output
    assert "already at revision 0004 (head)" in db("upgrade", "--db", store_url).output
    res = db("current", "--db", store_url)
    assert res.exit_code == 0 and "revision 0004 (head)" in res.output


def test_database_from_the_config_and_password_never_shown(tmp_path, store_url):
    if store_url.startswith("postgresql"):  # trust authentication: any password is accepted
        store_url = store_url.replace("postgres@", "postgres:hunter2@")
    cfg = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    cfg["storage"]["url"] = store_url
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(cfg))
    res = db("upgrade", "--config", str(path))
    assert res.exit_code == 0 and "revision 0004 (head)" in res.output
    assert "hunter2" not in res.output


def test_unreachable_database_is_an_error_naming_it_without_its_password(postgres_cluster):
    url = "postgresql+asyncpg://perpdex:hunter2@127.0.0.1:1/perpdex"
    res = db("current", "--db", url)
    assert res.exit_code == 1 and "127.0.0.1:1/perpdex" in res.output and "hunter2" not in res.output


def test_revision_writes_the_next_migration_from_the_models(tmp_path):
    versions = tmp_path / "versions"
    shutil.copytree(MIGRATIONS_DIR / "versions", versions, ignore=shutil.ignore_patterns("__pycache__"))
    res = db("revision", "-m", "nothing", "--versions-dir", str(versions))
    assert res.exit_code == 1 and "agree" in res.output

    # a migration the models do not have (drops an index models.py declares): the next one restores it
    (versions / "0005_drop_status_index.py").write_text(
        'from alembic import op\n\nrevision = "0005"\ndown_revision = "0004"\nbranch_labels = None\n'
        'depends_on = None\n\n\ndef upgrade():\n    op.drop_index("ix_positions_status", table_name="positions")\n\n\n'
        'def downgrade():\n    op.create_index("ix_positions_status", "positions", ["status"])\n')
    res = db("revision", "-m", "restore status index", "--versions-dir", str(versions))
    assert res.exit_code == 0, res.output
    [script] = versions.glob("0006_*.py")
    assert script.name == "0006_restore_status_index.py"
    text = script.read_text()
    assert "down_revision = '0005'" in text and "ix_positions_status" in text and "perpdex" not in text

    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn, versions_dir=versions), "head")
        assert compare_metadata(MigrationContext.configure(conn, opts=context_options(conn)), Base.metadata) == []
    engine.dispose()
