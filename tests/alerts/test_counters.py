"""The notifier's counters where operators look: the ``alerts`` block of ``/health`` (the API app
with a notifier in ``app.state.alerts``) and the Prometheus metrics scraped over HTTP; neither
holds a secret."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp

from perpdex.alerts.config import AlertsConfig
from perpdex.alerts.message import Alert
from perpdex.alerts.notifier import Notifier
from perpdex.api import create_app
from perpdex.metrics import PerpdexCollector, serve_metrics
from perpdex.storage import Store
from tests.api.conftest import api_client, make_config

from .fakes import FakeTelegram, FakeWebhook


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _notifier_with_traffic(tg: FakeTelegram, hook: FakeWebhook) -> Notifier:
    hook.always = 500
    n = Notifier(AlertsConfig.model_validate({"retries": 1, "retry_backoff_s": 0.01, "channels": [
        {"type": "telegram", "bot_token": tg.token, "chat_id": "1", "api_base": tg.url},
        {"type": "webhook", "url": hook.hook_url, "name": "ops"}]}))
    await n.start()
    n.submit(Alert("position_opened", "opened #1"))
    n.submit(Alert("position_opened", "opened #1"))  # a duplicate
    deadline = time.monotonic() + 10
    while not (n.stats()["channels"][0]["sent"] == 1 and n.stats()["channels"][1]["failed"] == 1):
        assert time.monotonic() < deadline, n.stats()
        await asyncio.sleep(0.02)
    return n


async def test_health_has_the_alerts_block(tmp_path):
    tg, hook = await FakeTelegram().start(), await FakeWebhook().start()
    n = await _notifier_with_traffic(tg, hook)
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await store.init()
    try:
        app = create_app(make_config(tmp_path, {"aster": {}}), store=store, collect=False)
        async with api_client(app) as client:
            assert (await client.get("/health")).json().get("alerts") is None  # no notifier: no block
            app.state.alerts = n
            resp = await client.get("/health")
        assert resp.status_code == 200
        body = resp.json()["alerts"]
        by = {c["name"]: c for c in body["channels"]}
        assert by["telegram"]["sent"] == 1 and by["telegram"]["suppressed"] == 1 and by["telegram"]["type"] == "telegram"
        assert by["ops"]["failed"] == 1 and by["ops"]["retries"] == 1 and by["ops"]["last_error"].startswith("HTTP 500")
        assert body["running"] is True and body["streams_down"] == []
        assert tg.token not in resp.text and hook.key not in resp.text
    finally:
        await n.close()
        await store.close()
        await tg.stop()
        await hook.stop()


async def test_metrics_count_alerts_per_channel():
    tg, hook = await FakeTelegram().start(), await FakeWebhook().start()
    n = await _notifier_with_traffic(tg, hook)
    try:
        port = _free_port()
        serve_metrics(port, PerpdexCollector(lambda: [], alerts=n.stats))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
    finally:
        await n.close()
        await tg.stop()
        await hook.stop()
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line and not line.startswith("#")}
    assert lines['perpdex_alerts_sent_total{channel="telegram"}'] == 1.0
    assert lines['perpdex_alerts_suppressed_total{channel="telegram"}'] == 1.0
    assert lines['perpdex_alerts_failed_total{channel="ops"}'] == 1.0
    assert lines['perpdex_alerts_retries_total{channel="ops"}'] == 1.0
    assert lines['perpdex_alerts_dropped_total{channel="ops"}'] == 0.0
    assert lines['perpdex_alerts_queued{channel="ops"}'] == 0.0
    assert tg.token not in text and hook.key not in text
