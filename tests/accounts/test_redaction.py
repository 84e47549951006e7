"""The run's log filter masks an account's credential values in whatever a library logs (E11)."""

from __future__ import annotations

import io
import logging

from perpdex.accounts import redact_logs

SECRET = "c2VjcmV0LXNlZWQtb2YtYWxpY2UtMDAwMDAwMDA="


def test_E11_log_records_are_masked_in_message_args_and_traceback():
    logger = logging.getLogger("test.redaction")
    logger.propagate = False
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        redact_logs([SECRET], logger)
        logger.debug("headers %s", {"X-API-Key": SECRET})
        logger.info("plain %s", SECRET.lower())  # case-insensitive
        try:
            raise ValueError(f"bad key {SECRET}")
        except ValueError:
            logger.exception("failed")
        logger.info("nothing secret here: %d", 42)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert SECRET not in text and SECRET.lower() not in text
    assert text.count("***") == 3 and "ValueError: bad key ***" in text and "nothing secret here: 42" in text
