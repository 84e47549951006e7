"""Aster V3 request authentication (EIP-712): the digest of a signed request, recovering its
signer (the emulator's side), and a faster digest for ccxt's signing (the client's side).

What is signed (docs/exchanges/aster.md §5.1, asterdex/api-docs "V3 Authentication"): the
URL-encoded parameter string exactly as transmitted, without the trailing ``&signature=...``,
wrapped as EIP-712 typed data ``Message{string msg}`` in the domain
``{name: "AsterSignTransaction", version: "1", chainId: 1666, verifyingContract: 0x0}``. The
signature is ``r ‖ s ‖ v`` (65 bytes hex, ``v`` 27/28, any case).

Recovery uses coincurve (installed with ccxt); when coincurve is not importable,
:func:`recover_signer` returns None and callers fall back to presence checks. Keccak-256 is
pycryptodome's (C, ~10 µs a hash) when it is installed, else ccxt's bundled pure-Python one
(~0.6 ms a hash on the project's box).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

MAINNET_CHAIN_ID = 1666
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

try:
    from Crypto.Hash import keccak as _fast_keccak  # pycryptodome, optional

    def _k(data: bytes) -> bytes:
        return _fast_keccak.new(data=data, digest_bits=256).digest()

except ImportError:  # pragma: no cover - depends on the environment
    from ccxt.static_dependencies import keccak as _keccak

    def _k(data: bytes) -> bytes:
        return bytes(_keccak.SHA3(data))

try:  # pragma: no branch - ships with ccxt
    from coincurve import PublicKey as _PublicKey

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


def signing_payload(msg: str, chain_id: int = MAINNET_CHAIN_ID) -> bytes:
    """``0x19 0x01 ‖ domain separator ‖ hashStruct(Message{msg})``: the EIP-712 encoding whose
    keccak is signed for the parameter string ``msg``."""
    return b"\x19\x01" + _domain_separator(chain_id) + _k(_k(b"Message(string msg)") + _k(msg.encode()))


def install_fast_signing(exchange: Any) -> Any:
    """Speed up a ``ccxt.async_support.aster`` instance's request signing (same bytes, same
    signature): its ``hash`` uses :func:`_k` for keccak, and its EIP-712 encoding of the V3
    ``Message{string msg}`` in the ``AsterSignTransaction`` domain is :func:`signing_payload`
    (domain and type hashes computed once) instead of ccxt's generic typed-data encoder (eight
    keccak hashes a request). Anything else goes to ccxt's own code.

    Nonces: ccxt signs ``nonce = milliseconds x 1000``, so two private requests signed in the same
    millisecond (concurrent reads, now that signing takes ~0.1 ms) would share a nonce, and Aster
    rejects the second as a duplicate (docs/exchanges/aster.md §7.3). Each private request is signed
    with a millisecond strictly above the previous one's instead. Returns ``exchange``."""
    generic_hash, generic_encode, generic_sign = exchange.hash, exchange.eth_encode_structured_data, exchange.sign
    last_ms = [0]

    def hash_(request: Any, algorithm: str = "md5", digest: str = "hex") -> Any:
        if algorithm != "keccak":
            return generic_hash(request, algorithm, digest)
        out = _k(request if isinstance(request, bytes) else bytes(request))
        return out.hex() if digest == "hex" else out

    def encode(domain: dict[str, Any], message_types: dict[str, Any], message: dict[str, Any]) -> bytes:
        if (message_types == {"Message": [{"name": "msg", "type": "string"}]}
                and domain.get("name") == "AsterSignTransaction" and str(domain.get("version")) == "1"
                and str(domain.get("verifyingContract", "")).lower() == _ZERO_ADDRESS
                and isinstance(domain.get("chainId"), int) and isinstance(message.get("msg"), str)):
            return signing_payload(message["msg"], domain["chainId"])
        return generic_encode(domain, message_types, message)

    def sign(path: str, api: Any = ("public",), method: str = "GET", params: Any = None) -> Any:
        if not str(api[0]).endswith("Private"):
            return generic_sign(path, api, method, {} if params is None else params)
        own = vars(exchange).get("milliseconds")  # a clock set on the instance (tests) stays
        last_ms[0] = max(int(exchange.milliseconds()), last_ms[0] + 1)
        exchange.milliseconds = lambda: last_ms[0]  # read once, by this (synchronous) call only
        try:
            return generic_sign(path, api, method, {} if params is None else params)
        finally:
            if own is not None:
                exchange.milliseconds = own
            else:
                del exchange.milliseconds

    exchange.hash, exchange.eth_encode_structured_data, exchange.sign = hash_, encode, sign
    return exchange


def recover_signer(msg: str, signature: str, chain_id: int = MAINNET_CHAIN_ID) -> str | None:
    """Lower-case ``0x`` address that signed ``msg``; None if the signature is malformed or no
    verifier is installed. Never raises."""
    if not HAVE_VERIFIER:
        return None
    try:
        sig = bytes.fromhex(signature[2:] if signature[:2].lower() == "0x" else signature)
        if len(sig) != 65 or sig[64] not in (27, 28):
            return None
        digest = _k(signing_payload(msg, chain_id))
        pub = _PublicKey.from_signature_and_message(sig[:64] + bytes([sig[64] - 27]), digest, hasher=None)
        return "0x" + _k(pub.format(compressed=False)[1:])[-20:].hex()
    except Exception:  # noqa: BLE001 - any malformed signature is just "not recovered"
        return None


def self_test() -> str:
    """Sign an EIP-712 ``Message`` with a throw-away secp256k1 key (coincurve, as ccxt does) and
    recover its address with :func:`recover_signer`, offline. Returns one line; raises
    :class:`~perpdex.errors.DependencyMissing` when coincurve is missing or the round trip fails."""
    from ...errors import DependencyMissing

    hint = "install it with: pip install coincurve"
    try:
        from coincurve import PrivateKey
    except ImportError:
        raise DependencyMissing(f"signer: coincurve is not installed; {hint}", exchange="aster") from None
    key = PrivateKey(bytes(range(1, 33)))  # a fixed throw-away key, never an account's
    address = "0x" + _k(key.public_key.format(compressed=False)[1:])[-20:].hex()
    rec = key.sign_recoverable(_k(signing_payload("perpdex doctor")), hasher=None)
    signature = "0x" + (rec[:64] + bytes([rec[64] + 27])).hex()
    if recover_signer("perpdex doctor", signature) != address:
        raise DependencyMissing(f"signer: an EIP-712 signature does not recover its signer; {hint}", exchange="aster")
    return "EIP-712 signature recovers its signer"
