"""Keeping credentials out of logs, reports and exception messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

_SECRET_KEYS = re.compile(r"(key|secret|token|password|passphrase|seed|auth|signature)", re.I)
_MASK = "***"


def secret_values(credentials: dict[str, Any] | None) -> list[str]:
    """Every string value in a credentials mapping (nested), longest first, for redaction."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, (str, bytes)):
            s = v.decode() if isinstance(v, bytes) else v
            if len(s) >= 6:
                out.append(s)
                if s.lower().startswith("0x"):
                    out.append(s[2:])

    walk(credentials or {})
    return sorted(set(out), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (case-insensitive) replaced by ``***``."""
    for s in secrets:
        if s:
            text = re.sub(re.escape(s), _MASK, text, flags=re.I)
    return text


def mask_mapping(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with values under secret-looking keys masked (for printing configs)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[k] = mask_mapping(v)
        elif _SECRET_KEYS.search(str(k)) and v not in (None, ""):
            out[k] = _MASK
        else:
            out[k] = v
    return out


# -- tokens derived from credentials, masked in logs ------------------------------------------------
# An exchange's short-lived auth token (an 8 h signed token, a JWT, a listen key) opens the account
# as the credentials do while it lives, so it is masked wherever a log record would carry it: the
# values registered by the code that derives them, any JWT, and the value of every secret-looking
# key in logged headers, JSON bodies and query strings (an HTTP library's debug lines).
_DERIVED: dict[str, None] = {}  # insertion-ordered set, bounded
_MAX_DERIVED = 64
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
_KEYED = re.compile(
    r"""(?P<key>["']?[\w.-]*(?:key|secret|token|password|passphrase|seed|auth|signature|jwt)[\w.-]*["']?\s*[:=]\s*)"""
    r"""(?P<quote>["']?)(?![-+\d.eE]+(?:["'\s,&{}\[\]]|$))(?P<value>(?:Bearer\s+)?[^"'\s,&{}\[\]]{8,})""", re.I)


def mask_in_logs(*values: str | None) -> None:
    """Register ``values`` (tokens derived from credentials) to be masked by :class:`LogMask`."""
    for v in values:
        if v and len(v) >= 6:
            _DERIVED[v] = None
            while len(_DERIVED) > _MAX_DERIVED:
                del _DERIVED[next(iter(_DERIVED))]


def mask_text(text: str) -> str:
    """``text`` with registered derived tokens, JWTs and values of secret-looking keys (``key``,
    ``secret``, ``token``, ``auth``, ``signature``... in ``k: v``, ``"k": "v"``, ``k=v``; values of
    8 characters or more that are not plain numbers) replaced by ``***``."""
    text = redact(text, sorted(_DERIVED, key=len, reverse=True))
    text = _JWT.sub(_MASK, text)
    return _KEYED.sub(lambda m: f"{m['key']}{m['quote']}{_MASK}", text)


class LogMask(logging.Filter):
    """A handler filter applying :func:`mask_text` to each record's final text (message with its
    arguments, traceback, stack)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = mask_text(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_log_mask(logger: logging.Logger | None = None) -> LogMask:
    """Add one :class:`LogMask` to every handler of ``logger`` (default: the root logger, where
    every propagated record ends up) that has none yet; returns the filter."""
    target = logger or logging.getLogger()
    mask = next((f for h in target.handlers for f in h.filters if isinstance(f, LogMask)), None) or LogMask()
    for handler in target.handlers:
        if mask not in handler.filters:
            handler.addFilter(mask)
    return mask
