"""The notifier against real HTTP receivers on loopback (a fake Telegram Bot API, a fake webhook):
dedupe window, rate limit per channel, drop-oldest queue, retries with back-off (500, 429 with its
wait, a hanging receiver), a 4xx not retried, a failing channel counted and logged without its
secrets, publishing never waiting for a receiver, stream outages shorter than ``stream_down_s``
not sent, the queues drained at close."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from perpdex.alerts.config import AlertsConfig
from perpdex.alerts.message import Alert
from perpdex.alerts.notifier import Notifier
from perpdex.runtime.events import EventBus, EventKind

from .fakes import FakeTelegram, FakeWebhook


@pytest.fixture
async def tg():
    r = await FakeTelegram().start()
    yield r
    await r.stop()


@pytest.fixture
async def hook():
    r = await FakeWebhook().start()
    yield r
    await r.stop()


def telegram(tg: FakeTelegram, **kw) -> dict:
    return {"type": "telegram", "bot_token": tg.token, "chat_id": "-100777", "api_base": tg.url, **kw}


def webhook(hook: FakeWebhook, **kw) -> dict:
    return {"type": "webhook", "url": hook.hook_url, **kw}


def alerts_cfg(*channels: dict, **kw) -> AlertsConfig:
    return AlertsConfig.model_validate({"channels": list(channels), "retry_backoff_s": 0.05,
                                        "retry_backoff_max_s": 0.5, **kw})


async def started(cfg: AlertsConfig, **kw) -> Notifier:
    n = Notifier(cfg, **kw)
    await n.start()
    return n


def by_name(n: Notifier) -> dict[str, dict]:
    return {c["name"]: c for c in n.stats()["channels"]}


async def test_telegram_message_is_what_the_bot_api_takes(tg):
    n = await started(alerts_cfg(telegram(tg)))
    try:
        n.submit(Alert("position_closed", "closed #3 0G: long exit @ 0.1 < 0.2 & more", logging.INFO,
                       strategy="funding_arb", data={"net_pnl_usd": "1.23456", "fees_usd": "0.5", "reason": "max age"}))
        [msg] = await tg.wait_for(1)
    finally:
        await n.close()
    assert msg["chat_id"] == "-100777" and msg["parse_mode"] == "HTML"
    text = msg["text"]
    assert text.startswith("<b>perpdex: position closed</b>")
    assert "long exit @ 0.1 &lt; 0.2 &amp; more" in text  # escaped for the HTML parse mode
    assert "net PnL: +1.2346 USD" in text and "fees: +0.5000 USD" in text and "reason: max age" in text
    assert by_name(n)["telegram"]["sent"] == 1


async def test_duplicates_within_the_window_are_suppressed(hook):
    now = [1000.0]
    n = await started(alerts_cfg(webhook(hook), dedupe_window_s=60), clock=lambda: now[0])
    try:
        for _ in range(3):
            n.submit(Alert("open_refused", "skip 0G: pre-flight failed: spread too wide"))
        n.submit(Alert("open_refused", "skip BTC: pre-flight failed: spread too wide"))  # another message
        n.submit(Alert("open_failed", "skip 0G: pre-flight failed: spread too wide"))  # another kind
        await hook.wait_for(3)
        now[0] += 61  # the window has passed: the same alert goes out again
        n.submit(Alert("open_refused", "skip 0G: pre-flight failed: spread too wide"))
        await hook.wait_for(4)
    finally:
        await n.close()
    assert [m["kind"] for m in hook.messages] == ["open_refused", "open_refused", "open_failed", "open_refused"]
    assert by_name(n)["webhook"]["suppressed"] == 2 and by_name(n)["webhook"]["sent"] == 4


async def test_rate_limit_is_per_channel(hook):
    slow_hook = await FakeWebhook(key="slow-key-000000").start()
    try:
        n = await started(alerts_cfg(webhook(hook, name="fast"),
                                     webhook(slow_hook, name="slow", rate_limit_per_min=3), rate_limit_per_min=600))
        try:
            for i in range(5):
                n.submit(Alert("hedge", f"repair {i}"))
            await hook.wait_for(5)  # the fast channel is not held back by the slow one
            await slow_hook.wait_for(3)
            await asyncio.sleep(1.0)  # the 4th may go 20 s after the 3rd (3 per minute)
            assert len(slow_hook.messages) == 3
            stats = by_name(n)
            assert stats["slow"]["rate_limited"] == 1 and stats["slow"]["queued"] == 1
            assert stats["fast"]["rate_limited"] == 0 and stats["fast"]["sent"] == 5
        finally:
            await n.close(timeout_s=0.2)
        assert by_name(n)["slow"]["dropped"] == 1  # still waiting at exit
    finally:
        await slow_hook.stop()


async def test_full_queue_drops_the_oldest_and_counts_it(hook):
    hook.script = ["hang"]
    hook.hang_s = 1.0
    n = await started(alerts_cfg(webhook(hook, timeout_s=5), queue_size=2))
    try:
        n.submit(Alert("hedge", "m0"))
        deadline = time.monotonic() + 10
        while not hook.attempts:  # m0 is in flight (the receiver holds it)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        for i in range(1, 5):
            n.submit(Alert("hedge", f"m{i}"))
        await hook.wait_for(3)
    finally:
        await n.close()
    assert [m["message"] for m in hook.messages] == ["m0", "m3", "m4"]
    assert by_name(n)["webhook"]["dropped"] == 2


async def test_a_500_is_retried_with_back_off_then_sent(tg):
    tg.script = [500, 500]
    n = await started(alerts_cfg(telegram(tg), retries=3))
    try:
        n.submit(Alert("naked_leg", "position #9 naked"))
        await tg.wait_for(1)
    finally:
        await n.close()
    assert len(tg.attempts) == 3
    st = by_name(n)["telegram"]
    assert st["sent"] == 1 and st["retries"] == 2 and st["failed"] == 0


async def test_a_429_waits_what_the_receiver_asked(tg):
    tg.script, tg.retry_after = [429], 0.4
    n = await started(alerts_cfg(telegram(tg)))
    t0 = time.monotonic()
    try:
        n.submit(Alert("hedge", "x"))
        await tg.wait_for(1)
    finally:
        await n.close()
    assert time.monotonic() - t0 >= 0.4 and len(tg.attempts) == 2


async def test_a_4xx_is_not_retried_and_is_counted(hook):
    n = await started(alerts_cfg(webhook(hook, url=f"{hook.url}/hooks/wrong-key-123456"), retries=3))
    try:
        n.submit(Alert("hedge", "x"))
        deadline = time.monotonic() + 10
        while by_name(n)["webhook"]["failed"] == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await n.close()
    st = by_name(n)["webhook"]
    assert len(hook.attempts) == 1 and st["retries"] == 0 and st["failed"] == 1
    assert st["last_error"].startswith("HTTP 404") and "wrong-key-123456" not in st["last_error"]


async def test_a_hanging_receiver_never_slows_the_publisher_and_is_retried(tg, hook):
    tg.always, tg.hang_s = "hang", 5.0
    n = await started(alerts_cfg(telegram(tg, timeout_s=0.5), webhook(hook), retries=1, dedupe_window_s=0))
    bus = EventBus()
    n.attach(bus)
    try:
        durations = []
        for i in range(20):
            t0 = time.perf_counter()
            bus.publish(EventKind.POSITION_OPENED, f"opened #{i} 0G", position_id=i)
            durations.append(time.perf_counter() - t0)
        assert sum(durations) < 0.25, durations  # 20 publishes while Telegram hangs 5 s per request
        await hook.wait_for(20)  # the webhook channel is not held up by the hanging one
        deadline = time.monotonic() + 20
        while by_name(n)["telegram"]["failed"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await n.close(timeout_s=0)
    st = by_name(n)["telegram"]
    assert st["retries"] >= 1 and len(tg.attempts) >= 2  # timed out, retried
    assert st["last_error"] == "no answer within 0.5s"
    assert st["dropped"] >= 1  # left in the queue at exit


async def test_failures_are_logged_and_counted_without_secrets(tg, caplog):
    caplog.set_level(logging.DEBUG)
    tg.always = 500
    cfg = alerts_cfg(telegram(tg, api_base=f"{tg.url}"), retries=1)
    n = await started(cfg)
    try:
        n.submit(Alert("liquidation", "lighter leg liquidated"))
        deadline = time.monotonic() + 10
        while by_name(n)["telegram"]["failed"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await n.close()
    # a receiver that echoes the request path (with the token) in its description
    class Echo(FakeTelegram):
        async def send_message(self, request):  # noqa: ANN001
            self.attempts.append(await request.json())
            from aiohttp import web

            return web.json_response({"ok": False, "error_code": 400, "description": f"bad path {request.path}"},
                                     status=400)

    echo = await Echo(token=tg.token).start()
    n2 = await started(alerts_cfg(telegram(echo)))
    try:
        n2.submit(Alert("liquidation", "x"))
        deadline = time.monotonic() + 10
        while by_name(n2)["telegram"]["failed"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await tg.stop()  # nobody listening any more: a connection error
        n3 = await started(alerts_cfg(telegram(tg), retries=0))
        n3.submit(Alert("liquidation", "y"))
        deadline = time.monotonic() + 10
        while by_name(n3)["telegram"]["failed"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await n3.close()
    finally:
        await n2.close()
        await echo.stop()
    assert by_name(n2)["telegram"]["last_error"].startswith("HTTP 400: bad path /bot***/sendMessage")
    assert by_name(n3)["telegram"]["last_error"].startswith("connection failed")
    token = tg.token
    assert "alert not sent" in caplog.text
    for where in (caplog.text, json.dumps(n.stats()), json.dumps(n2.stats()), json.dumps(n3.stats()), repr(cfg),
                  cfg.model_dump_json(), str(cfg.channels[0])):
        assert token not in where and token.split(":")[1] not in where


async def test_close_drains_the_queue(hook):
    n = await started(alerts_cfg(webhook(hook, format="json")))
    for i in range(5):
        n.submit(Alert("position_opened", f"opened #{i}"))
    await n.close()
    assert len(hook.messages) == 5 and by_name(n)["webhook"]["sent"] == 5
    n.submit(Alert("position_opened", "after close"))  # ignored once closed
    assert by_name(n)["webhook"]["queued"] == 0


async def test_kinds_filter_per_section_and_per_channel(tg, hook):
    n = await started(alerts_cfg(telegram(tg), webhook(hook, kinds=["summary"]), kinds=["naked_leg", "position_closed"]))
    bus = EventBus()
    n.attach(bus)
    try:
        bus.publish(EventKind.INFO, "funding #1 0G on aster: +0.01 USD")
        bus.publish(EventKind.POSITION_OPENED, "opened #1")
        bus.publish(EventKind.NAKED_LEG, "position #1 naked")
        bus.publish(EventKind.SUMMARY, "last 24h: ...")
        await tg.wait_for(1)
        await hook.wait_for(1)
        await asyncio.sleep(0.2)
    finally:
        await n.close()
    assert [m["text"].split("\n")[1] for m in tg.messages] == ["position #1 naked"]
    assert [m["kind"] for m in hook.messages] == ["summary"]


async def test_a_short_stream_outage_is_not_sent_a_long_one_is_once(hook):
    n = await started(alerts_cfg(webhook(hook), stream_down_s=0.3))
    bus = EventBus()
    n.attach(bus)
    try:
        bus.publish(EventKind.STREAM_DOWN, "aster feed disconnected", exchange="aster", stream="feed")
        await asyncio.sleep(0.05)
        bus.publish(EventKind.STREAM_UP, "aster feed back", exchange="aster", stream="feed")
        await asyncio.sleep(0.6)
        assert hook.messages == [] and n.streams_down() == []
        bus.publish(EventKind.STREAM_DOWN, "lighter user disconnected", exchange="lighter", stream="user")
        bus.publish(EventKind.STREAM_DOWN, "lighter user disconnected", exchange="lighter", stream="user")  # again
        bus.publish(EventKind.STREAM_DOWN, "aster feed disconnected", exchange="aster", stream="feed")
        bus.publish(EventKind.STREAM_UP, "aster feed back", exchange="aster", stream="feed")  # a short one
        [down] = await hook.wait_for(1)
        assert n.streams_down()[0]["alerted"] is True
        bus.publish(EventKind.STREAM_UP, "lighter user back", exchange="lighter", stream="user")
        await hook.wait_for(2)
        await asyncio.sleep(0.5)
    finally:
        await n.close()
    assert [m["kind"] for m in hook.messages] == ["stream_down", "stream_up"]
    assert down["data"]["exchange"] == "lighter" and down["data"]["stream"] == "user" and down["level"] == "WARNING"
    assert "down for more than 0.3s" in down["message"]
    up = hook.messages[1]
    assert up["data"]["exchange"] == "lighter" and up["data"]["down_s"] >= 0.3
