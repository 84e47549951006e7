"""Keeping credentials out of logs, reports and exception messages."""

from __future__ import annotations

import re
from typing import Any, Iterable

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
