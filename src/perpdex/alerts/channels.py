"""The channels an alert goes out on: a Telegram chat (Bot API) and a webhook (JSON POST).

A channel sends one :class:`~perpdex.alerts.message.Alert` per call over an aiohttp session and
raises :class:`SendError` when it was not accepted; retrying is the notifier's business. A
``SendError`` says whether trying again can help (timeouts, connection errors, HTTP 429 and 5xx)
and how long the receiver asked to wait (Telegram's ``parameters.retry_after``, a
``Retry-After`` header). Its text never holds a secret: it is built from the status and the
receiver's own description, with the channel's secrets (bot token, webhook URL, headers)
masked in it as well.

Telegram: ``POST {api_base}/bot<token>/sendMessage`` with ``chat_id``, ``text``, ``parse_mode``
(https://core.telegram.org/bots/api#sendmessage); the answer is ``{"ok": true, ...}`` or
``{"ok": false, "error_code", "description", "parameters": {"retry_after"}}``. Webhooks: any 2xx
is accepted (Slack answers 200 ``ok``, Discord 204).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ..secrets import redact
from .config import TelegramChannelConfig, WebhookChannelConfig
from .message import Alert, payload, telegram_text


class SendError(Exception):
    """An alert the receiver did not accept. ``retryable``: trying again can help;
    ``retry_after``: seconds the receiver asked to wait (None: not said); ``status``: the HTTP
    status (None: no answer)."""

    def __init__(self, description: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(description)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def _retry_after(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


class Channel:
    """One destination. ``name`` as configured; ``kinds``/``rate_limit_per_min`` None means the
    section's; ``timeout_s`` bounds one HTTP request."""

    type = "channel"

    def __init__(self, name: str, *, timeout_s: float, kinds: list[str] | None = None,
                 rate_limit_per_min: float | None = None) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.kinds = kinds
        self.rate_limit_per_min = rate_limit_per_min

    def secrets(self) -> list[str]:
        """The values that must never appear in a log line or an error (for masking)."""
        return []

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets())

    async def send(self, session: aiohttp.ClientSession, alert: Alert) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def _post(self, session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                    headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """POST ``body`` as JSON; (status, JSON answer or text, headers). Raises :class:`SendError`
        for no answer in time or a connection error (both retryable)."""
        try:
            async with session.post(url, json=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                try:
                    answer: Any = await resp.json(content_type=None)
                except ValueError:
                    answer = await resp.text()
                return resp.status, answer, dict(resp.headers)
        except TimeoutError:
            raise SendError(f"no answer within {self.timeout_s:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            # aiohttp's texts can hold the URL (a bot token, a webhook's key): name the class only
            raise SendError(f"connection failed ({type(exc).__name__})", retryable=True) from None


class TelegramChannel(Channel):
    """A Telegram chat through a bot (see the module doc)."""

    type = "telegram"

    def __init__(self, cfg: TelegramChannelConfig) -> None:
        super().__init__(cfg.name or "telegram", timeout_s=cfg.timeout_s,
                         kinds=[str(k) for k in cfg.kinds] if cfg.kinds is not None else None,
                         rate_limit_per_min=cfg.rate_limit_per_min)
        assert cfg.bot_token is not None and cfg.chat_id is not None  # the config resolved both
        self._token = cfg.bot_token
        self.chat_id = cfg.chat_id
        self.api_base = cfg.api_base
        self.parse_mode = cfg.parse_mode
        self.disable_notification = cfg.disable_notification

    def secrets(self) -> list[str]:
        return [self._token.get_secret_value()]

    async def send(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        url = f"{self.api_base}/bot{self._token.get_secret_value()}/sendMessage"
        body: dict[str, Any] = {"chat_id": self.chat_id, "text": telegram_text(alert)
                                if self.parse_mode == "HTML" else alert.plain()}
        if self.parse_mode:
            body["parse_mode"] = self.parse_mode
        if self.disable_notification:
            body["disable_notification"] = True
        status, answer, headers = await self._post(session, url, body)
        ok = isinstance(answer, dict) and answer.get("ok") is True
        if 200 <= status < 300 and ok:
            return
        described = answer.get("description") if isinstance(answer, dict) else None
        params = answer.get("parameters") if isinstance(answer, dict) else None
        wait = _retry_after((params or {}).get("retry_after") if isinstance(params, dict) else None)
        wait = wait if wait is not None else _retry_after(headers.get("Retry-After"))
        text = f"HTTP {status}" + (f": {str(described)[:200]}" if described else "")
        raise SendError(self._clean(text), retryable=status == 429 or status >= 500, retry_after=wait, status=status)


class WebhookChannel(Channel):
    """A JSON POST to a URL, as Slack, Discord or the whole event (see the module doc)."""

    type = "webhook"

    def __init__(self, cfg: WebhookChannelConfig) -> None:
        super().__init__(cfg.name or "webhook", timeout_s=cfg.timeout_s,
                         kinds=[str(k) for k in cfg.kinds] if cfg.kinds is not None else None,
                         rate_limit_per_min=cfg.rate_limit_per_min)
        self._url = cfg.url
        self._headers = cfg.headers
        self.format = cfg.format

    def secrets(self) -> list[str]:
        url = self._url.get_secret_value()
        path = url.split("://", 1)[-1].partition("/")[2]
        out = [url] + ([path] if len(path) >= 6 else [])  # the path carries Slack's / Discord's key
        return out + [v.get_secret_value() for v in self._headers.values() if len(v.get_secret_value()) >= 4]

    async def send(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        headers = {k: v.get_secret_value() for k, v in self._headers.items()}
        status, answer, resp_headers = await self._post(session, self._url.get_secret_value(),
                                                        payload(alert, self.format), headers or None)
        if 200 <= status < 300:
            return
        wait = _retry_after(resp_headers.get("Retry-After"))
        if wait is None and isinstance(answer, dict):
            wait = _retry_after(answer.get("retry_after"))  # Discord's JSON body
        snippet = (answer.get("message") or answer.get("error")) if isinstance(answer, dict) else answer
        text = f"HTTP {status}" + (f": {str(snippet)[:200]}" if snippet else "")
        raise SendError(self._clean(text), retryable=status == 429 or status >= 500, retry_after=wait, status=status)


def build_channel(cfg: TelegramChannelConfig | WebhookChannelConfig) -> Channel:
    """The channel of one ``alerts.channels`` entry."""
    if isinstance(cfg, TelegramChannelConfig):
        return TelegramChannel(cfg)
    return WebhookChannel(cfg)
