"""A throwaway PostgreSQL server for tests, and the ``store_url`` fixture over SQLite and PostgreSQL.

Fixtures (imported by tests/conftest.py, so every test directory can use them):

- ``postgres_cluster`` (session): ``initdb`` into a fresh temporary directory, ``pg_ctl start`` on a
  free 127.0.0.1 port with its unix socket in that directory, ``fsync`` off; stopped and deleted
  at the end of the session. Started on first use only.
- ``store_url``: parametrized ``sqlite`` / ``postgresql``; a SQLAlchemy async URL of an empty
  database of its own (a file in ``tmp_path``, or a new database in the cluster, dropped after).
- ``store``: a migrated :class:`perpdex.storage.Store` on ``store_url``, closed after the test.

The server binaries are found on PATH, through ``pg_config --bindir``, or in Debian's
``/usr/lib/postgresql/<version>/bin`` (``apt-get install postgresql``; ``make test`` does it).
PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user that package
creates. Missing binaries FAIL the tests that need them (never skip).
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from perpdex.storage import Store

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres", "createdb", "dropdb")
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest version first), or None."""
    candidates: list[Path] = []
    if os.environ.get("PERPDEX_PG_BINDIR"):
        candidates.append(Path(os.environ["PERPDEX_PG_BINDIR"]))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)  # type: ignore[arg-type]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((d for d in candidates if all((d / t).is_file() for t in SERVER_TOOLS)), None)


# Stops the server (SIGQUIT: immediate shutdown) and deletes its directory once the test process is
# gone, should it die before its fixture teardown (killed by a timeout): argv = test pid, postmaster
# pid, root directory. Runs as the test process's user (root may signal the postgres user's server).
_WATCHDOG = """
import os, shutil, signal, sys, time
pid, server, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def alive(p):
    try:
        os.kill(p, 0)
    except ProcessLookupError:
        return False
    return True
while alive(pid):
    time.sleep(1)
if alive(server):
    os.kill(server, signal.SIGQUIT)
for _ in range(100):
    if not alive(server):
        break
    time.sleep(0.1)
shutil.rmtree(root, ignore_errors=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One PostgreSQL server in ``root`` (data, socket, log), trust authentication for
    ``postgres`` on 127.0.0.1:``port``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # /tmp: short enough for the unix socket path, traversable by the server's user
        self.root = Path(tempfile.mkdtemp(prefix="perpdex-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen | None = None
        self._as: dict[str, object] = {}
        if os.geteuid() == 0:  # the server refuses root: run it as the package's system user
            try:
                user = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise RuntimeError(f"running as root and there is no {SUPERUSER!r} user to run PostgreSQL as "
                                   "(apt-get install postgresql creates it)") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [],
                        "env": {**os.environ, "HOME": str(self.root)}}

    def _run(self, tool: str, *args: str, server: bool = False) -> None:
        cmd = [str(self.bindir / tool), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **(self._as if server else {}))
        if out.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()} {log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                  "--no-locale", "--no-sync", server=True)
        for attempt in range(3):  # another process may take the free port before the server does
            port = _free_port()
            opts = (f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                          "-o", opts, server=True)
                self.port = port
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        server_pid = (self.data / "postmaster.pid").read_text().split()[0]
        self._watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), server_pid, str(self.root)],
                                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.port:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", server=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()

    def _client(self, tool: str, *args: str) -> None:
        self._run(tool, "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, *args)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"perpdex_test_{next(self._names)}"
        self._client("createdb", name)
        return name

    def drop_database(self, name: str) -> None:
        self._client("dropdb", "--force", name)

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of ``database``."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_cluster():
    bindir = find_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, via pg_config "
                    "or in /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql; "
                    "`make test` does) or set PERPDEX_PG_BINDIR", pytrace=False)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        pytest.fail(f"could not start a throwaway PostgreSQL server: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """An empty database of this test's own on each backend (see module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database()
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
async def store(store_url):
    """A migrated :class:`Store` on an empty database of each backend; closed after the test."""
    st = Store(store_url)
    await st.init()
    try:
        yield st
    finally:
        await st.close()
