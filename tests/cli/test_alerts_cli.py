"""``perpdex alerts test`` and ``perpdex run`` with an ``alerts:`` section, as a user runs them (real
subprocesses), against a fake Telegram Bot API and a fake webhook on loopback: the messages
arrive, the close carries the report's net PnL, a failing channel is reported per channel, and
the bot token and the webhook's key appear nowhere in the output, even at ``--verbose``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

from tests.alerts.fakes import FakeTelegram, FakeWebhook, receivers_in_thread

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]


def run(args, env=None, timeout=120):
    return subprocess.run([*PERPDEX, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "cfg.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_alerts_test_reports_each_channel(tmp_path):
    with receivers_in_thread(FakeTelegram(), FakeWebhook()) as (tg, hook):
        cfg = write(tmp_path, {"exchanges": {"aster": {}}, "alerts": {"retries": 0, "channels": [
            {"type": "telegram", "chat_id": "55", "api_base": tg.url},
            {"type": "webhook", "url": hook.hook_url, "format": "slack"},
            {"type": "webhook", "name": "broken", "url": f"{hook.url}/hooks/not-the-key-987654"},
        ]}})
        res = run(["alerts", "test", "--config", str(cfg), "--message", "hello from the test"],
                  env={"PERPDEX_TELEGRAM_BOT_TOKEN": tg.token})
    assert res.returncode == 1, res.stderr  # one channel failed
    lines = res.stdout.splitlines()
    assert "telegram (telegram): sent" in lines and "webhook (webhook): sent" in lines
    assert "broken (webhook): failed: HTTP 404: Unknown Webhook" in lines
    [msg] = tg.messages
    assert msg["chat_id"] == "55" and "hello from the test" in msg["text"]
    assert hook.messages[0]["text"].startswith("*perpdex: info*\nhello from the test")
    for secret in (tg.token, "not-the-key-987654", hook.key):
        assert secret not in res.stdout + res.stderr


def test_alerts_test_without_channels_is_a_clear_error(tmp_path):
    cfg = write(tmp_path, {"exchanges": {"aster": {}}})
    res = run(["alerts", "test", "--config", str(cfg)])
    assert res.returncode == 2 and "no alerts.channels" in res.stderr and "Traceback" not in res.stderr


def test_run_sends_the_open_and_the_close_with_the_reports_pnl(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "sim.yml").read_text())
    data["sim"]["funding_time_scale"] = 3600
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    data["strategy"].update(scan_interval_s=0.5, exit={"max_age_s": 5, "min_spread_apr": 0.05})
    report = tmp_path / "report.json"
    with receivers_in_thread(FakeTelegram(), FakeWebhook()) as (tg, hook):
        data["alerts"] = {"channels": [{"type": "telegram", "api_base": tg.url},
                                       {"type": "webhook", "url": hook.hook_url, "format": "json"}]}
        cfg = write(tmp_path, data)
        res = run(["run", "--config", str(cfg), "--duration", "10", "--report", str(report), "--verbose"],
                  env={"PERPDEX_TELEGRAM_BOT_TOKEN": tg.token, "PERPDEX_TELEGRAM_CHAT_ID": "-100999"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "alerts to telegram (telegram), webhook (webhook)" in res.stdout
    [pos] = json.loads(report.read_text())["positions"]
    kinds = Counter(m["kind"] for m in hook.messages)
    assert kinds["position_opened"] == 1 and kinds["position_closed"] == 1, kinds
    [closed] = [m for m in hook.messages if m["kind"] == "position_closed"]
    assert closed["data"]["position_id"] == pos["id"] and Decimal(closed["data"]["net_pnl_usd"]) == Decimal(pos["pnl"])
    assert sum("position closed" in m["text"].split("\n")[0] for m in tg.messages) == 1
    assert all(m["chat_id"] == "-100999" for m in tg.messages)
    assert " DEBUG " in res.stderr  # verbose logging was on, and still no secret in it
    for secret in (tg.token, tg.token.split(":")[1], hook.key):
        assert secret not in res.stdout + res.stderr
