"""What an alert says in each format: Telegram HTML (escaped, valid for the Bot API, within 4096
characters), Slack ``text`` (escaped as Slack asks), Discord ``content`` (within 2000, no
mentions), JSON (the whole event)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from perpdex.alerts.message import Alert, payload, telegram_text, usd
from perpdex.runtime.events import EventBus, EventKind

from .fakes import telegram_html_error

TS = datetime(2025, 3, 1, 8, 0, 5, tzinfo=UTC)


def closed() -> Alert:
    return Alert("position_closed", "closed #7 BTC: long exit @ 100 <x> & y", logging.INFO, TS, "funding_arb",
                 {"position_id": 7, "net_pnl_usd": "-2.5", "funding_usd": "1.25", "reason": "spread < 5%"})


def test_usd_figures():
    assert usd("1.5") == "+1.5000 USD" and usd("-0.00004") == "-0.0000 USD" and usd("n/a") == "n/a"


def test_telegram_html_is_escaped_and_valid():
    text = telegram_text(closed())
    assert telegram_html_error(text) is None
    assert text.split("\n") == [
        "<b>perpdex: position closed</b>",
        "closed #7 BTC: long exit @ 100 &lt;x&gt; &amp; y",
        "net PnL: -2.5000 USD",
        "funding: +1.2500 USD",
        "reason: spread &lt; 5%",
        "<i>2025-03-01 08:00:05 UTC · funding_arb</i>",
    ]
    naked = Alert("naked_leg", "x" * 10_000, logging.ERROR, TS)
    long_text = telegram_text(naked)
    assert len(long_text) <= 4096 and telegram_html_error(long_text) is None
    assert long_text.startswith("\U0001F534 <b>perpdex: NAKED LEG</b>")


def test_slack_discord_and_json_payloads():
    a = closed()
    slack = payload(a, "slack")
    assert set(slack) == {"text"} and slack["text"].startswith("*perpdex: position closed*\n")
    assert "100 &lt;x&gt; &amp; y" in slack["text"] and "net PnL: -2.5000 USD" in slack["text"]
    discord = payload(Alert("liquidation", "@everyone " + "y" * 5000, logging.ERROR, TS), "discord")
    assert len(discord["content"]) <= 2000 and discord["allowed_mentions"] == {"parse": []}
    assert discord["content"].startswith("\U0001F534 **perpdex: LIQUIDATION**")
    j = payload(a, "json")
    assert j["kind"] == "position_closed" and j["level"] == "INFO" and j["ts"] == TS.isoformat()
    assert j["data"]["net_pnl_usd"] == "-2.5" and j["strategy"] == "funding_arb" and j["source"] == "perpdex"
    assert j["text"] == a.plain()


def test_an_event_becomes_an_alert():
    ev = EventBus().publish(EventKind.GRID_STOP, "[g] stop price 90 breached at 89.5", level=logging.WARNING,
                            strategy="g", price=89.5)
    a = Alert.from_event(ev)
    assert (a.kind, a.message, a.level, a.strategy, a.data) == ("grid_stop", ev.message, logging.WARNING, "g",
                                                                {"price": 89.5})
    assert a.dedupe_key == f"grid_stop|{ev.message}"
