"""The emulated exchanges in a process of their own, as real exchanges would be, for benchmarks
that measure perpdex's side alone (``bench_scan.py``, ``bench_service.py``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def emulator_process(workdir: Path, scenario: str | None = None, seed: int | None = None,
                     timeout: float = 120) -> Iterator[dict[str, Any]]:
    """Run ``perpdex sim`` (``scenario``: a bundled name or a YAML path; default the bundled
    default) until the block ends; yields its endpoints per exchange (``rest_url``, ``ws_url``,
    ``ccxt`` constructor options). Raises SystemExit when it does not start within ``timeout`` s."""
    ep_file = workdir / "endpoints.json"
    cmd = [sys.executable, "-m", "perpdex.cli.main", "sim", "--endpoints-file", str(ep_file)]
    if scenario is not None:
        cmd += ["--scenario", scenario]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + timeout
        while not ep_file.exists():
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"emulator did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.2)
        time.sleep(0.5)
        yield json.loads(ep_file.read_text())
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C ``proc`` and wait for it (killed after 30 s)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def exchanges_config(endpoints: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The ``exchanges:`` config section pointing each exchange at its emulator (plus ``options``)."""
    return {name: {"rest_url": ep["rest_url"], "ws_url": ep["ws_url"], "options": {"ccxt": ep["ccxt"], **options}}
            for name, ep in endpoints.items()}
