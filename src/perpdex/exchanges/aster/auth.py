"""Aster V3 request authentication (EIP-712), server side: recover the signer of a request.

What is signed (shared/protocols/aster.md §5.1, asterdex/api-docs "V3 Authentication"): the
URL-encoded parameter string exactly as transmitted, without the trailing ``&signature=...``,
wrapped as EIP-712 typed data ``Message{string msg}`` in the domain
``{name: "AsterSignTransaction", version: "1", chainId: 1666, verifyingContract: 0x0}``. The
signature is ``r ‖ s ‖ v`` (65 bytes hex, ``v`` 27/28, any case).

Recovery uses coincurve (installed with ccxt) and ccxt's bundled keccak; when coincurve is not
importable, :func:`recover_signer` returns None and callers fall back to presence checks.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MAINNET_CHAIN_ID = 1666

try:  # pragma: no branch - both ship with ccxt
    from ccxt.static_dependencies import keccak as _keccak  # type: ignore[import-untyped]
    from coincurve import PublicKey as _PublicKey

    def _k(data: bytes) -> bytes:
        return bytes(_keccak.SHA3(data))

    HAVE_VERIFIER = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_VERIFIER = False

_domain_separators: dict[int, bytes] = {}


def _domain_separator(chain_id: int) -> bytes:
    sep = _domain_separators.get(chain_id)
    if sep is None:
        type_hash = _k(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
        sep = _k(type_hash + _k(b"AsterSignTransaction") + _k(b"1") + chain_id.to_bytes(32, "big") + bytes(32))
        _domain_separators[chain_id] = sep
    return sep


def split_signed(raw: str) -> tuple[str, str] | None:
    """``"a=1&b=2&signature=0xab"`` -> ``("a=1&b=2", "0xab")``; None when there is no final
    ``signature`` parameter."""
    idx = raw.rfind("&signature=")
    if idx < 0:
        return None
    return raw[:idx], raw[idx + len("&signature="):]


def recover_signer(msg: str, signature: str, chain_id: int = MAINNET_CHAIN_ID) -> str | None:
    """Lower-case ``0x`` address that signed ``msg``; None if the signature is malformed or no
    verifier is installed. Never raises."""
    if not HAVE_VERIFIER:
        return None
    try:
        sig = bytes.fromhex(signature[2:] if signature[:2].lower() == "0x" else signature)
        if len(sig) != 65 or sig[64] not in (27, 28):
            return None
        struct_hash = _k(_k(b"Message(string msg)") + _k(msg.encode()))
        digest = _k(b"\x19\x01" + _domain_separator(chain_id) + struct_hash)
        pub = _PublicKey.from_signature_and_message(sig[:64] + bytes([sig[64] - 27]), digest, hasher=None)
        return "0x" + _k(pub.format(compressed=False)[1:])[-20:].hex()
    except Exception:  # noqa: BLE001 - any malformed signature is just "not recovered"
        return None
