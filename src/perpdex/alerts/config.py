"""The ``alerts:`` section of the config: where the bot's alerts go and how often.

Example::

    alerts:
      stream_down_s: 60              # a feed / user stream down this long is an alert
      daily_summary_utc: "08:00"     # one summary a day at this UTC time (null: none)
      channels:
        - type: telegram             # bot token and chat id: here or $PERPDEX_TELEGRAM_BOT_TOKEN / _CHAT_ID
          chat_id: "-1001234567890"
        - type: webhook
          format: slack              # slack {"text"} | discord {"content"} | json (the whole event)
          url: https://hooks.slack.com/services/T000/B000/XXXX

Channels are ``telegram`` (the Bot API's ``sendMessage``) or ``webhook`` (a JSON POST). Secrets
(the bot token, a webhook URL, which carries its own token on Slack and Discord, and webhook
headers) are pydantic ``SecretStr``: masked in reprs, never logged, never in ``/health``.

Times are seconds; ``rate_limit_per_min`` is messages per minute per channel.
"""

from __future__ import annotations

import os
import re
from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..runtime.events import EventKind

TOKEN_ENV = "PERPDEX_TELEGRAM_BOT_TOKEN"
CHAT_ENV = "PERPDEX_TELEGRAM_CHAT_ID"

#: what is sent when ``kinds`` is not given: every kind but the plain ``info`` lines
DEFAULT_KINDS: tuple[EventKind, ...] = tuple(k for k in EventKind if k is not EventKind.INFO)

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _at(where: str, message: str) -> PydanticCustomError:
    """An error the config loader reports at ``<this model's path>.<where>`` (see perpdex.config)."""
    return PydanticCustomError("perpdex_config", "{message}", {"at": where, "message": message})


def _http_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError("not an http(s) URL")
    return v.rstrip("/")


class _Channel(_Strict):
    """What every channel has: ``name`` (in logs, ``/health`` and the metrics; default its type,
    numbered when several share it), ``kinds`` (None: the section's), ``rate_limit_per_min``
    (None: the section's), ``timeout_s`` per HTTP request."""

    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kinds: list[EventKind] | None = None
    rate_limit_per_min: float | None = Field(default=None, gt=0, le=6000)
    timeout_s: float = Field(default=10.0, gt=0, le=300)


class TelegramChannelConfig(_Channel):
    """A Telegram chat, through a bot: ``POST {api_base}/bot<bot_token>/sendMessage`` with
    ``chat_id``, ``text`` and ``parse_mode``. ``bot_token``/``chat_id`` default to
    ``$PERPDEX_TELEGRAM_BOT_TOKEN``/``$PERPDEX_TELEGRAM_CHAT_ID``. ``api_base``: the Bot API's
    address (a local Bot API server, or a test's fake)."""

    type: Literal["telegram"]
    bot_token: SecretStr | None = Field(default=None, repr=False)
    chat_id: str | None = None
    api_base: str = "https://api.telegram.org"
    parse_mode: Literal["HTML"] | None = "HTML"
    disable_notification: bool = False

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v  # YAML reads -100123 as a number

    @model_validator(mode="after")
    def _from_environment(self) -> TelegramChannelConfig:
        if self.bot_token is None and os.environ.get(TOKEN_ENV):
            self.bot_token = SecretStr(os.environ[TOKEN_ENV])
        if self.chat_id is None and os.environ.get(CHAT_ENV):
            self.chat_id = os.environ[CHAT_ENV]
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise _at("bot_token", f"missing: set it here or in ${TOKEN_ENV}")
        if not self.chat_id:
            raise _at("chat_id", f"missing: set it here or in ${CHAT_ENV}")
        return self


class WebhookChannelConfig(_Channel):
    """A JSON POST to ``url``: ``format`` ``slack`` sends ``{"text": ...}`` (Slack incoming
    webhooks), ``discord`` ``{"content": ...}`` (Discord webhooks), ``json`` the whole event
    (kind, message, level, ts, strategy, data, plus ``title``/``text``). ``headers`` are added
    to the request (e.g. an ``Authorization``); the URL and the headers are secrets."""

    type: Literal["webhook"]
    url: SecretStr = Field(repr=False)
    format: Literal["json", "slack", "discord"] = "json"
    headers: dict[str, SecretStr] = Field(default_factory=dict, repr=False)

    @field_validator("url")
    @classmethod
    def _url(cls, v: SecretStr) -> SecretStr:
        return SecretStr(_http_url(v.get_secret_value()))


ChannelConfig = Annotated[TelegramChannelConfig | WebhookChannelConfig, Field(discriminator="type")]


class AlertsConfig(_Strict):
    """The ``alerts:`` section (see the module doc).

    * ``channels``: where alerts go (none: alerts are off);
    * ``kinds``: the event kinds sent (default every kind but ``info``; see
      :class:`~perpdex.runtime.events.EventKind`);
    * ``stream_down_s``: a feed or user stream down (``stream_down``) and not back up
      (``stream_up``) within this many seconds is an alert; ``stream_up`` is then sent when it
      comes back;
    * ``daily_summary_utc``: ``"HH:MM"`` UTC time of the daily summary (open positions, PnL and
      funding of the last 24 h); None: no summary;
    * ``dedupe_window_s``: the same alert (kind and message) again within this many seconds is
      suppressed (0: never);
    * ``rate_limit_per_min``: messages per minute per channel (more wait in the queue);
    * ``queue_size``: alerts waiting per channel; when full the oldest is dropped (counted);
    * ``retries``: attempts after the first for a failed send (timeouts, connection errors,
      HTTP 429 and 5xx), waiting ``retry_backoff_s`` x 2^n (up to ``retry_backoff_max_s``) between;
    * ``drain_timeout_s``: at exit, how long the queues may take to empty.
    """

    channels: list[ChannelConfig] = Field(default_factory=list)
    kinds: list[EventKind] = Field(default_factory=lambda: list(DEFAULT_KINDS))
    stream_down_s: float = Field(default=60.0, gt=0)
    daily_summary_utc: str | None = None
    dedupe_window_s: float = Field(default=300.0, ge=0)
    rate_limit_per_min: float = Field(default=20.0, gt=0, le=6000)
    queue_size: int = Field(default=100, ge=1, le=100_000)
    retries: int = Field(default=3, ge=0, le=20)
    retry_backoff_s: float = Field(default=1.0, gt=0, le=600)
    retry_backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    drain_timeout_s: float = Field(default=5.0, ge=0, le=600)

    @field_validator("daily_summary_utc")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a UTC time HH:MM (e.g. \"08:00\")")
        return v

    @field_validator("channels")
    @classmethod
    def _names(cls, v: list[TelegramChannelConfig | WebhookChannelConfig]
               ) -> list[TelegramChannelConfig | WebhookChannelConfig]:
        counts: dict[str, int] = {}
        for ch in v:
            if ch.name is None:
                counts[ch.type] = counts.get(ch.type, 0) + 1
        seen: dict[str, int] = {}
        numbered: dict[str, int] = {}
        for i, ch in enumerate(v):
            if ch.name is None:
                numbered[ch.type] = numbered.get(ch.type, 0) + 1
                ch.name = ch.type if counts[ch.type] == 1 else f"{ch.type}-{numbered[ch.type]}"
            if ch.name in seen:
                raise ValueError(f"channel name {ch.name!r} is used by channels {seen[ch.name]} and {i}")
            seen[ch.name] = i
        return v

    @property
    def summary_time(self) -> time | None:
        """:attr:`daily_summary_utc` as a time (UTC), or None."""
        if self.daily_summary_utc is None:
            return None
        h, m = self.daily_summary_utc.split(":")
        return time(int(h), int(m))

    @property
    def enabled(self) -> bool:
        return bool(self.channels)
