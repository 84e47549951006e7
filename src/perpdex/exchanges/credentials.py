"""Credential format checks an exchange client declares for its fields (``CREDENTIAL_FORMATS``:
field name -> checker), run by ``perpdex accounts add`` before anything is stored, so that a
malformed key is refused with one line naming the field instead of failing later at signing time.

A checker takes the value and raises ``ValueError`` saying what was expected; the message never
contains the value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

Checker = Callable[[Any], None]


def _hex_digits(value: Any) -> str:
    text = str(value).strip()
    digits = text[2:] if text[:2].lower() == "0x" else text
    if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError("not hexadecimal")
    return digits


def hex_bytes(n: int) -> Checker:
    """Exactly ``n`` bytes in hex (``2n`` digits, ``0x`` optional)."""
    def check(value: Any) -> None:
        digits = _hex_digits(value)
        if len(digits) != 2 * n:
            raise ValueError(f"expected {2 * n} hex digits ({n} bytes, 0x optional), got {len(digits)}")
    return check


def hex_number(max_bytes: int) -> Checker:
    """A non-zero hex number of at most ``max_bytes`` bytes (``0x`` optional; leading zeros may be
    dropped, as for Stark keys and addresses)."""
    def check(value: Any) -> None:
        digits = _hex_digits(value)
        if len(digits) > 2 * max_bytes:
            raise ValueError(f"expected at most {2 * max_bytes} hex digits, got {len(digits)}")
        if int(digits, 16) == 0:
            raise ValueError("must not be zero")
    return check


def base64_bytes(*lengths: int) -> Checker:
    """Standard base64 decoding to one of ``lengths`` bytes (an ed25519 key or seed: 32)."""
    def check(value: Any) -> None:
        try:
            raw = base64.b64decode(str(value).strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        if len(raw) not in lengths:
            raise ValueError(f"expected base64 of {' or '.join(map(str, lengths))} bytes, got {len(raw)} bytes")
    return check


def integer(lo: int, hi: int | None = None) -> Checker:
    """A whole number ``lo <= x <= hi`` (a string of digits is accepted)."""
    def check(value: Any) -> None:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            n = int(str(value).strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if n < lo or (hi is not None and n > hi):
            raise ValueError(f"expected a whole number from {lo}" + (f" to {hi}" if hi is not None else " up"))
    return check


__all__ = ["Checker", "base64_bytes", "hex_bytes", "hex_number", "integer"]
