"""What one alert says: an :class:`Alert` made from a runtime event (or by the notifier itself:
a stream outage, a test message), rendered for each channel format.

* Telegram (``parse_mode`` HTML): ``<b>title</b>``, the event's line, its money figures, the time;
  HTML-escaped, at most 4096 characters (the Bot API's limit);
* Slack: ``*title*`` (mrkdwn), ``&``, ``<``, ``>`` escaped as Slack asks;
* Discord: ``**title**``, at most 2000 characters (Discord's limit);
* JSON: the whole event (``kind``, ``message``, ``level``, ``ts``, ``strategy``, ``data``) plus
  ``title``, ``text`` and ``source: "perpdex"``.

Money figures in ``data`` (``net_pnl_usd``, ``price_pnl_usd``, ``funding_usd``, ``fees_usd``,
``realized_pnl_usd``) are USD decimal strings, shown signed with 4 decimals.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..runtime.events import Event, EventKind

TELEGRAM_MAX = 4096
DISCORD_MAX = 2000
SLACK_MAX = 3000  # Slack truncates long text blocks; keep messages readable

TITLES: dict[EventKind, str] = {
    EventKind.INFO: "info",
    EventKind.POSITION_OPENED: "position opened",
    EventKind.POSITION_CLOSED: "position closed",
    EventKind.OPEN_REFUSED: "open refused",
    EventKind.OPEN_FAILED: "open failed",
    EventKind.HEDGE: "hedge / repair",
    EventKind.LIQUIDATION: "LIQUIDATION",
    EventKind.NAKED_LEG: "NAKED LEG",
    EventKind.STREAM_DOWN: "stream down",
    EventKind.STREAM_UP: "stream back up",
    EventKind.GRID_STOP: "grid stop price breached",
    EventKind.GRID_PAUSE: "grid pause price reached",
    EventKind.SUMMARY: "daily summary",
}

#: (data key, label) of the money figures shown under the message, in this order
FIGURES: tuple[tuple[str, str], ...] = (
    ("net_pnl_usd", "net PnL"),
    ("price_pnl_usd", "price PnL"),
    ("funding_usd", "funding"),
    ("fees_usd", "fees"),
    ("realized_pnl_usd", "realized PnL"),
)

_MARK = {logging.ERROR: "\U0001F534", logging.WARNING: "\U0001F7E0"}  # red / orange circle


def title_of(kind: EventKind | str) -> str:
    try:
        return TITLES[EventKind(kind)]
    except ValueError:
        return str(kind)


def usd(value: Any) -> str:
    """``value`` (a decimal string or number, USD) as ``+1.2345 USD``; as given when not a number."""
    try:
        return f"{Decimal(str(value)):+.4f} USD"
    except (InvalidOperation, ValueError):
        return str(value)


@dataclass(frozen=True)
class Alert:
    """One alert: ``kind`` (an :class:`EventKind` value), ``message`` (one or more lines),
    ``level`` (a logging level), ``ts`` (UTC), ``strategy``, ``data`` (plain JSON figures);
    ``key`` is what the dedupe window compares (kind and message by default)."""

    kind: str
    message: str
    level: int = logging.INFO
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    strategy: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @classmethod
    def from_event(cls, ev: Event) -> Alert:
        return cls(ev.kind.value, ev.message, ev.level, ev.ts, ev.strategy, dict(ev.data))

    @property
    def dedupe_key(self) -> str:
        return self.key or f"{self.kind}|{self.message}"

    @property
    def title(self) -> str:
        return f"perpdex: {title_of(self.kind)}"

    def figures(self) -> list[str]:
        """``label: +x.xxxx USD`` for each money figure in ``data``, then ``reason: ...`` when the
        message does not say it."""
        out = [f"{label}: {usd(self.data[k])}" for k, label in FIGURES if self.data.get(k) is not None]
        reason = self.data.get("reason")
        if reason and str(reason) not in self.message:
            out.append(f"reason: {reason}")
        return out

    def footer(self) -> str:
        when = self.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{when}" + (f" · {self.strategy}" if self.strategy else "")

    def plain(self) -> str:
        """Title, message, figures and time as plain text lines."""
        return "\n".join([self.title, self.message, *self.figures(), self.footer()])

    def as_dict(self) -> dict[str, Any]:
        return {"source": "perpdex", "kind": self.kind, "title": self.title, "message": self.message,
                "level": logging.getLevelName(self.level), "ts": self.ts.isoformat(), "strategy": self.strategy,
                "data": dict(self.data), "text": self.plain()}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def telegram_text(a: Alert) -> str:
    """HTML for the Bot API (``parse_mode`` HTML), within its 4096-character limit."""
    mark = _MARK.get(a.level, "")
    body = html.escape(_cut(a.message, 3000), quote=False)
    figures = "\n".join(html.escape(f) for f in a.figures())
    parts = [f"{mark + ' ' if mark else ''}<b>{html.escape(a.title, quote=False)}</b>", body]
    if figures:
        parts.append(figures)
    parts.append(f"<i>{html.escape(a.footer(), quote=False)}</i>")
    return _cut("\n".join(parts), TELEGRAM_MAX)


def _slack_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(a: Alert, fmt: str) -> dict[str, Any]:
    """The JSON body of a webhook POST in ``fmt`` (``slack`` | ``discord`` | ``json``)."""
    mark = _MARK.get(a.level, "")
    lead = f"{mark} " if mark else ""
    if fmt == "slack":
        lines = [f"{lead}*{_slack_escape(a.title)}*", _slack_escape(a.message), *map(_slack_escape, a.figures()),
                 f"_{a.footer()}_"]
        return {"text": _cut("\n".join(lines), SLACK_MAX)}
    if fmt == "discord":
        lines = [f"{lead}**{a.title}**", a.message, *a.figures(), f"*{a.footer()}*"]
        # no @everyone / @here / role pings from a message's text
        return {"content": _cut("\n".join(lines), DISCORD_MAX), "allowed_mentions": {"parse": []}}
    return a.as_dict()
