"""Backpack request signing, checked offline: ED25519 over the instruction string, done by ccxt's
``Exchange.eddsa`` with the ``cryptography`` package (docs/exchanges/backpack.md §5.1)."""

from __future__ import annotations

import base64

from ...errors import DependencyMissing


def self_test() -> str:
    """Sign an instruction string with a throw-away ED25519 seed through ccxt's ``eddsa`` and
    verify it with the seed's public key. Returns one line; raises
    :class:`~perpdex.errors.DependencyMissing` when ``cryptography`` is missing or the round trip
    fails."""
    hint = "install it with: pip install cryptography"
    try:
        from ccxt.base.exchange import Exchange
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError as exc:
        raise DependencyMissing(f"signer: {exc.name} is not installed; {hint}", exchange="backpack") from None
    seed = bytes(range(32))  # throw-away, never an account's
    message = b"instruction=balanceQuery&timestamp=1&window=5000"
    signature = base64.b64decode(Exchange.eddsa(message, seed, "ed25519"))
    try:
        Ed25519PrivateKey.from_private_bytes(seed).public_key().verify(signature, message)
    except InvalidSignature:
        raise DependencyMissing(f"signer: an ED25519 signature does not verify; {hint}", exchange="backpack") from None
    return "ED25519 signature verifies"
