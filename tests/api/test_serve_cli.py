"""``perpdex serve`` as a user runs it: a subprocess with the emulator in-process, on a free port,
answering /health; stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    data["service"] = {"interval_s": 1}
    cfg = tmp_path / "serve.yml"
    cfg.write_text(yaml.safe_dump(data))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "perpdex.cli.main", "serve", "--config", str(cfg), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        deadline = time.monotonic() + 60  # a bound so that a server that never answers fails the test
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                if body["rounds"] >= 1:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert body is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert body["status"] == "ok" and body["collecting"] is True
        assert {e["exchange"] for e in body["exchanges"]} == set(data["exchanges"])
        assert all(e["samples_last_round"] == 10 for e in body["exchanges"])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out
    assert "funding round 1: 40 samples from 4/4 exchanges" in err
