"""The emulator's side of Aster V3 request authentication (docs/exchanges/aster.md §5.1): the sim
account's key pair and the split of a signed parameter string into message and signature.
Signature recovery itself is :func:`perpdex.exchanges.aster.auth.recover_signer`."""

from __future__ import annotations

SIM_PRIVATE_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
SIM_ADDRESS = "0x21cf8ae13bb72632562c6fff438652ba1a151bb0"


def split_signed(raw: str) -> tuple[str, str] | None:
    """``"a=1&b=2&signature=0xab"`` -> ``("a=1&b=2", "0xab")``; None when there is no final
    ``signature`` parameter."""
    idx = raw.rfind("&signature=")
    if idx < 0:
        return None
    return raw[:idx], raw[idx + len("&signature="):]
