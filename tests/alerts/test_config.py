"""The ``alerts:`` config section: defaults, channels, environment fallbacks for Telegram, errors
naming the field, secrets masked."""

from __future__ import annotations

import pytest

from perpdex.alerts.config import DEFAULT_KINDS, AlertsConfig
from perpdex.config import parse_config
from perpdex.errors import ConfigError
from perpdex.runtime.events import EventKind

TOKEN = "987654:SECRET-bot-token-value"
HOOK = "https://hooks.slack.com/services/T111/B222/secret-slack-key"


def load(alerts):
    return parse_config({"exchanges": {"aster": {}}, "alerts": alerts}).alerts


def test_defaults_are_off_and_sensible():
    cfg = parse_config({"exchanges": {"aster": {}}}).alerts
    assert not cfg.enabled and cfg.channels == []
    assert cfg.stream_down_s == 60 and cfg.daily_summary_utc is None and cfg.summary_time is None
    assert EventKind.INFO not in cfg.kinds and set(cfg.kinds) == set(DEFAULT_KINDS)
    assert EventKind.NAKED_LEG in cfg.kinds and EventKind.CLOSE_FAILED in cfg.kinds


def test_channels_names_and_formats():
    cfg = load({"daily_summary_utc": "07:30", "channels": [
        {"type": "telegram", "bot_token": TOKEN, "chat_id": -1001234},
        {"type": "webhook", "url": HOOK, "format": "slack"},
        {"type": "webhook", "url": "https://discord.com/api/webhooks/1/abc", "format": "discord", "name": "ops"},
        {"type": "webhook", "url": "http://127.0.0.1:9000/alerts"},
    ]})
    assert [c.name for c in cfg.channels] == ["telegram", "webhook-1", "ops", "webhook-2"]
    assert cfg.channels[0].chat_id == "-1001234"  # a YAML number kept as Telegram's id string
    assert [getattr(c, "format", None) for c in cfg.channels] == [None, "slack", "discord", "json"]
    assert cfg.summary_time.hour == 7 and cfg.summary_time.minute == 30


def test_telegram_token_and_chat_from_the_environment(monkeypatch):
    monkeypatch.setenv("PERPDEX_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PERPDEX_TELEGRAM_CHAT_ID", "31337")
    [ch] = load({"channels": [{"type": "telegram"}]}).channels
    assert ch.bot_token.get_secret_value() == TOKEN and ch.chat_id == "31337"
    [ch] = load({"channels": [{"type": "telegram", "chat_id": "1"}]}).channels  # the config wins
    assert ch.chat_id == "1"


@pytest.mark.parametrize("alerts, field, says", [
    ({"channels": [{"type": "telegram", "chat_id": "1"}]}, "alerts.channels.0.telegram.bot_token",
     "PERPDEX_TELEGRAM_BOT_TOKEN"),
    ({"channels": [{"type": "telegram", "bot_token": TOKEN}]}, "alerts.channels.0.telegram.chat_id",
     "PERPDEX_TELEGRAM_CHAT_ID"),
    ({"channels": [{"type": "webhook", "url": "ftp://x/y"}]}, "alerts.channels.0.webhook.url", "http"),
    ({"channels": [{"type": "webhook", "url": HOOK, "format": "teams"}]}, "alerts.channels.0.webhook.format", "slack"),
    ({"channels": [{"type": "pager"}]}, "alerts.channels.0", "telegram"),
    ({"channels": [{"type": "webhook", "url": HOOK, "name": "a"}, {"type": "webhook", "url": HOOK, "name": "a"}]},
     "alerts.channels", "'a'"),
    ({"stream_down_s": 0}, "alerts.stream_down_s", "greater than 0"),
    ({"daily_summary_utc": "8:00"}, "alerts.daily_summary_utc", "HH:MM"),
    ({"daily_summary_utc": "24:00"}, "alerts.daily_summary_utc", "HH:MM"),
    ({"rate_limit_per_min": 0}, "alerts.rate_limit_per_min", "greater than 0"),
    ({"queue_size": 0}, "alerts.queue_size", "greater than or equal to 1"),
    ({"dedupe_window_s": -1}, "alerts.dedupe_window_s", "greater than or equal to 0"),
    ({"kinds": ["position_opened", "liquidated"]}, "alerts.kinds.1", "naked_leg"),
    ({"retries": 99}, "alerts.retries", "less than or equal to 20"),
    ({"sms": True}, "alerts.sms", "Extra inputs"),
])
def test_bad_values_name_the_field(monkeypatch, alerts, field, says):
    monkeypatch.delenv("PERPDEX_TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("PERPDEX_TELEGRAM_CHAT_ID", raising=False)
    with pytest.raises(ConfigError) as exc:
        load(alerts)
    assert exc.value.field == field and says in str(exc.value)


def test_secrets_are_masked_in_reprs_dumps_and_errors():
    cfg = load({"channels": [{"type": "telegram", "bot_token": TOKEN, "chat_id": "1"},
                             {"type": "webhook", "url": HOOK, "headers": {"Authorization": "Bearer hdr-secret-1"}}]})
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
        for secret in (TOKEN, "secret-slack-key", "hdr-secret-1"):
            assert secret not in text
    with pytest.raises(ConfigError) as exc:  # an error elsewhere in the section never echoes them
        load({"channels": [{"type": "telegram", "bot_token": TOKEN, "chat_id": "1", "timeout_s": -1}]})
    assert TOKEN not in str(exc.value) and exc.value.field == "alerts.channels.0.telegram.timeout_s"


def test_alerts_config_alone():
    cfg = AlertsConfig.model_validate({"channels": [{"type": "webhook", "url": HOOK, "kinds": ["summary"],
                                                     "rate_limit_per_min": 0.5}]})
    assert cfg.channels[0].kinds == [EventKind.SUMMARY] and cfg.channels[0].rate_limit_per_min == 0.5
