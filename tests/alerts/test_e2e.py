"""Alerts end to end: the funding-arbitrage strategy on the emulated exchanges (real clients, real
sockets, real SQLite) with the notifier subscribed to its runtime, sending to a fake Telegram Bot
API and a fake JSON webhook on loopback.

* an open and a close each arrive once on both channels, the close with the net PnL the run
  report computes from storage; a real feed outage (the emulator closes the market socket and
  refuses reconnects for a while) longer than ``stream_down_s`` arrives once, and its end once;
* a naked leg (the short leg's exchange answers late and rejects every order, the long leg's
  exchange every order after its first fill, so the rollback cannot flatten it) arrives once with
  the exposure stored;
* a Telegram API that hangs and a webhook answering 500 do not slow the trading cycle (each
  event's hand-off to the notifier is timed on the bus itself) and are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from aiohttp import web

from perpdex.alerts.notifier import Notifier
from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.sim.engine import OrderEvent
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy
from perpdex.strategies.report import build_report
from tests.waiting import eventually

from .fakes import FakeTelegram, FakeWebhook

D = Decimal
PAIR = ("aster", "lighter")  # the default scenario's best pair for 0G: long Aster, short Lighter


class Outage:
    """An emulator middleware: while ``on``, WebSocket upgrades are refused (503); while
    ``slow_port`` is set, POSTs to that venue's port are held ``slow_s`` seconds first."""

    def __init__(self) -> None:
        self.on = False
        self.slow_port: int | None = None
        self.slow_s = 2.5

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.on and request.headers.get("Upgrade", "").lower() == "websocket":
            return web.Response(status=503, text="outage")
        if self.slow_port is not None and request.method == "POST" and request.url.port == self.slow_port:
            await asyncio.sleep(self.slow_s)
        return await handler(request)


@contextlib.asynccontextmanager
async def bot(tmp_path, alerts: dict[str, Any], **strategy: Any) -> AsyncIterator[dict[str, Any]]:
    """The emulator (with :class:`Outage`), a strategy on it, and the notifier started on its
    runtime; yields the parts."""
    outage = Outage()
    cluster = await start_emulators(list(PAIR), seed=42, funding_time_scale=7200, middlewares=(outage.middleware,))
    cfg = parse_config({
        "exchanges": {n: {"rest_url": cluster.endpoints[n]["rest_url"], "ws_url": cluster.endpoints[n]["ws_url"],
                          "options": {"ccxt": copy.deepcopy(cluster.endpoints[n]["ccxt"])}} for n in PAIR},
        "strategy": {"size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "symbols": ["0G"], "limit_timeout_s": 1.0,
                     "max_positions": 1, "min_volume_24h_usd": 1_000_000, "pause_market_data_when_idle": False,
                     "exit": {"max_age_s": 3600, "min_spread_apr": 0.05}, **strategy},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}"},
        "alerts": alerts,
    })
    store = Store(cfg.storage.url)
    await store.init()
    try:
        async with runtime(cfg) as rt:
            strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
            notifier = Notifier(cfg.alerts)
            await notifier.start_for(strat.runtime)
            try:
                await strat.start()
                yield {"cfg": cfg, "rt": rt, "strat": strat, "store": store, "notifier": notifier,
                       "cluster": cluster, "outage": outage}
            finally:
                await notifier.close()
    finally:
        await store.close()
        await cluster.stop()



def channels(tg: FakeTelegram, hook: FakeWebhook, **kw: Any) -> dict[str, Any]:
    return {"channels": [{"type": "telegram", "bot_token": tg.token, "chat_id": "4242", "api_base": tg.url},
                         {"type": "webhook", "url": hook.hook_url, "format": "json"}],
            "retry_backoff_s": 0.1, "retry_backoff_max_s": 1.0, **kw}


def kinds(hook: FakeWebhook) -> Counter:
    return Counter(m["kind"] for m in hook.messages)


async def test_open_close_and_a_feed_outage_arrive_once_each_with_their_figures(tmp_path):
    tg, hook = await FakeTelegram().start(), await FakeWebhook().start()
    try:
        async with bot(tmp_path, channels(tg, hook, stream_down_s=0.5)) as b:
            strat, cluster, outage = b["strat"], b["cluster"], b["outage"]
            report = await strat.cycle()
            assert len(report.opened) == 1, report
            await eventually(lambda: kinds(hook)["position_opened"] == 1, "open alert")

            # a real outage: the exchange closes the market socket and refuses reconnects for a while
            outage.on = True
            cluster.sim.venue("aster").faults.inject("drop")
            await eventually(lambda: kinds(hook)["stream_down"] == 1, "stream_down alert")
            outage.on = False
            await eventually(lambda: kinds(hook)["stream_up"] == 1, "stream_up alert")

            [pos] = await b["store"].positions(["open"])
            assert await strat.close_position(pos, "test close")
            await eventually(lambda: kinds(hook)["position_closed"] == 1, "close alert")
            full = await build_report(b["store"], None, [], duration_s=1)
            await asyncio.sleep(0.5)  # nothing more comes for these
        [stored] = full["positions"]
        assert stored["status"] == "closed"
        k = kinds(hook)
        assert (k["position_opened"], k["position_closed"], k["stream_down"], k["stream_up"]) == (1, 1, 1, 1), k

        by = {m["kind"]: m for m in hook.messages}
        opened, closed = by["position_opened"]["data"], by["position_closed"]["data"]
        assert (opened["position_id"], opened["symbol"], opened["long_exchange"], opened["short_exchange"]) == \
            (stored["id"], "0G", "aster", "lighter")
        assert D(opened["quantity"]) == D(stored["size"])
        assert closed["position_id"] == stored["id"] and closed["reason"] == "test close"
        assert D(closed["net_pnl_usd"]) == D(stored["pnl"])  # the figure the report computes from storage
        assert D(closed["funding_usd"]) == D(stored["funding"])
        assert D(closed["fees_usd"]) == D(stored["entry_fees"]) + D(stored["exit_fees"])
        down = by["stream_down"]
        assert down["data"]["exchange"] == "aster" and down["data"]["stream"] == "feed"
        assert by["stream_up"]["data"]["down_s"] >= 0.5

        # Telegram got the same four, once each, the close with its net PnL in the text
        titles = Counter(m["text"].split("\n")[0].split("perpdex: ")[1].split("<")[0] for m in tg.messages)
        for t in ("position opened", "position closed", "stream down", "stream back up"):
            assert titles[t] == 1, titles
        [close_text] = [m["text"] for m in tg.messages if "position closed" in m["text"].split("\n")[0]]
        assert f"net PnL: {D(stored['pnl']):+.4f} USD" in close_text
        assert all(m["chat_id"] == "4242" for m in tg.messages)
    finally:
        await tg.stop()
        await hook.stop()


async def test_a_naked_leg_arrives_once_with_the_exposure_stored(tmp_path):
    tg, hook = await FakeTelegram().start(), await FakeWebhook().start()
    try:
        async with bot(tmp_path, channels(tg, hook), unhedged_timeout_s=1.0) as b:
            sim, outage = b["cluster"].sim, b["outage"]
            long_venue, short_venue = sim.venue("aster"), sim.venue("lighter")
            short_venue.faults.inject("reject", count=500, symbol="0G")  # the short leg never trades ...
            outage.slow_port = int(b["cluster"].endpoints["lighter"]["rest_url"].rsplit(":", 1)[1].split("/")[0])

            def reject_after_first_fill(ev: Any) -> None:  # ... and says so only once the long leg filled
                if isinstance(ev, OrderEvent) and ev.fill is not None and ev.order.symbol == "0G" \
                        and not long_venue.faults.pending("reject", "0G"):
                    long_venue.faults.inject("reject", count=500, symbol="0G")  # no rollback either
                    outage.slow_port = None

            long_venue.subscribe(reject_after_first_fill)
            report = await b["strat"].cycle()
            assert report.opened == []
            [naked] = await b["store"].positions(["naked"])
            await eventually(lambda: kinds(hook)["naked_leg"] == 1, "naked alert")
            await b["strat"].cycle()  # the next cycle leaves the naked pair alone: no new alert
            await asyncio.sleep(0.5)
        assert kinds(hook)["naked_leg"] == 1 and kinds(hook)["open_failed"] == 0, kinds(hook)
        [msg] = [m for m in hook.messages if m["kind"] == "naked_leg"]
        assert msg["level"] == "ERROR" and msg["data"]["position_id"] == naked.id
        assert msg["data"]["naked"] == naked.detail["naked"] and naked.detail["naked"][0][0] == "aster"
        assert (msg["data"]["symbol"], msg["data"]["long_exchange"], msg["data"]["short_exchange"]) == \
            ("0G", "aster", "lighter")
        assert sum("NAKED LEG" in m["text"].split("\n")[0] for m in tg.messages) == 1
    finally:
        await tg.stop()
        await hook.stop()


async def test_a_hanging_telegram_and_a_failing_webhook_do_not_slow_the_cycle_and_are_retried(tmp_path):
    tg, hook = await FakeTelegram(always="hang", hang_s=5.0).start(), await FakeWebhook(script=[500, 500]).start()
    try:
        alerts = channels(tg, hook, retries=2, drain_timeout_s=0.5)
        alerts["channels"][0]["timeout_s"] = 2.0  # a blocking send would cost 3 x 2 s per event
        async with bot(tmp_path, alerts) as b:
            bus = b["strat"].runtime.events
            # time each event's hand-off to the notifier on the bus itself: a probe before and one after it
            starts: list[float] = []
            handoffs: list[float] = []
            bus._subscribers.insert(0, lambda ev: starts.append(time.perf_counter()))
            bus.subscribe(lambda ev: handoffs.append(time.perf_counter() - starts[-1]))
            t0 = time.monotonic()
            report = await b["strat"].cycle()
            cycle_s = time.monotonic() - t0
            assert len(report.opened) == 1
            await eventually(lambda: kinds(hook)["position_opened"] == 1, "open alert through the 500s")
            await eventually(lambda: len(tg.attempts) >= 2, "telegram retried after its timeout")
        print(f"open cycle {cycle_s:.2f}s; hand-offs to the notifier: max {max(handoffs) * 1e3:.2f} ms over "
              f"{len(handoffs)} events")
        assert handoffs and max(handoffs) < 0.05, handoffs  # the notifier never waits for a receiver
        assert cycle_s < 6.0, cycle_s  # the open cycle: well below one blocked send (3 x 2 s)
        assert len(hook.attempts) >= 3  # 500, 500, accepted
        st = {c["name"]: c for c in b["notifier"].stats()["channels"]}
        assert st["webhook"]["retries"] >= 2 and st["telegram"]["retries"] >= 1
    finally:
        await tg.stop()
        await hook.stop()
