"""The emulator's side of Backpack request signing (docs/exchanges/backpack.md §5.1): the sim
account's ED25519 key pair, the request window limits, and the signing strings a signature is
checked against."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: The deterministic test-vector key pair of the protocol doc (§5.1: seed = bytes 0x01..0x20).
SIM_SECRET = base64.b64encode(bytes(range(1, 33))).decode()
SIM_API_KEY = base64.b64encode(
    Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
MAX_WINDOW_MS = 60_000
DEFAULT_WINDOW_MS = 5_000


def _render(value: Any) -> str:
    """A parameter value as it appears in the signing string (booleans lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def signing_strings(instruction: str, params: dict[str, Any] | list[dict[str, Any]], timestamp: str, window: str) -> list[str]:
    """The accepted signing strings for one request: raw values and URL-encoded values (§5.1).
    A list of dicts is a batch (one ``instruction=...`` block per order)."""
    out = []
    for enc in (_render, lambda v: quote_plus(_render(v))):
        blocks = params if isinstance(params, list) else [params]
        parts = []
        for block in blocks:
            items = "&".join(f"{k}={enc(block[k])}" for k in sorted(block))
            parts.append(f"instruction={instruction}" + (f"&{items}" if items else ""))
        out.append("&".join(parts) + f"&timestamp={timestamp}&window={window}")
    return list(dict.fromkeys(out))
