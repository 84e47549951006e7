"""Which credential fields each exchange takes, read from the exchange layer: the client class's
``CREDENTIAL_FIELDS`` (required) and ``CREDENTIAL_OPTIONAL`` (may be left out)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..exchanges import registry
from .errors import AccountError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_account_name(name: str) -> str:
    """``name`` if it is 1-64 characters of letters, digits, ``_ . -`` (starting alphanumeric)."""
    if not _NAME.match(name or ""):
        raise AccountError(f"account name {name!r} is invalid: 1-64 letters, digits, '_', '.', '-', "
                           "starting with a letter or digit")
    return name


def credential_fields(exchange: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) credential field names of ``exchange``; :class:`AccountError` for an
    exchange the registry does not know."""
    if exchange not in registry.names():
        raise AccountError(f"unknown exchange '{exchange}' (known: {', '.join(registry.names())})")
    cls = registry.client_class(exchange)
    return tuple(getattr(cls, "CREDENTIAL_FIELDS", ())), tuple(getattr(cls, "CREDENTIAL_OPTIONAL", ()))


def validate_fields(exchange: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The credential fields to store for ``exchange``: every required one present and non-empty,
    no unknown name, values scalar (str, int, float, bool), each in its format where the client
    declares one (``CREDENTIAL_FORMATS``: hex keys of the right length, base64 ed25519 keys...);
    empty optional ones dropped. Errors name the fields, never their values."""
    required, optional = credential_fields(exchange)
    if not required and not optional:
        raise AccountError(f"{exchange} declares no credential fields")
    allowed = f"required: {', '.join(required) or '-'}; optional: {', '.join(optional) or '-'}"
    unknown = sorted(set(fields) - set(required) - set(optional))
    if unknown:
        raise AccountError(f"{exchange} credentials: unknown field(s) {', '.join(unknown)} ({allowed})")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, (str, int, float, bool)):
            raise AccountError(f"{exchange} credentials: field {name} must be a string or a number, "
                               f"got {type(value).__name__}")
        out[name] = value.strip() if isinstance(value, str) else value
    missing = [f for f in required if f not in out]
    if missing:
        raise AccountError(f"{exchange} credentials: missing {', '.join(missing)} ({allowed})")
    formats = getattr(registry.client_class(exchange), "CREDENTIAL_FORMATS", {})
    for name, value in out.items():
        check = formats.get(name)
        if check is None:
            continue
        try:
            check(value)
        except ValueError as exc:  # the checker's message never carries the value
            raise AccountError(f"{exchange} credentials: field {name}: {exc}") from None
    return out
