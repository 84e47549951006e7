"""Defence in depth for ``run --account``: a logging filter that masks the account's credential
values in every record a handler emits (message, arguments and traceback), whatever logged it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..secrets import redact


class RedactingFilter(logging.Filter):
    """Replaces each of ``secrets`` (case-insensitive) by ``***`` in a record's final text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        msg = record.getMessage()
        clean = redact(msg, self.secrets)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def redact_logs(secrets: Iterable[str], logger: logging.Logger | None = None) -> RedactingFilter:
    """Install a :class:`RedactingFilter` on every handler of ``logger`` (default: the root
    logger, where every propagated record ends up); returns it."""
    f = RedactingFilter(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(f)
    return f
