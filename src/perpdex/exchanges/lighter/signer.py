"""Locate Lighter's signer shared library without importing the ``lighter`` package.

The library ships inside the ``lighter-sdk`` wheel (``lighter/signers/lighter-signer-<os>-<arch>
.so|.dylib|.dll``, see the Makefile: it is installed with ``--no-deps`` because the SDK pins an
urllib3 that conflicts with ccxt). ccxt 4.5.90 loads it through ``options['libraryPath']`` and
signs every Lighter transaction with it (protocol doc §5.4, §7.2).
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import sys
from pathlib import Path

from ...errors import DependencyMissing

log = logging.getLogger(__name__)

# A throw-away API private key generated once with the signer's GenerateAPIKey for the emulator
# only (Lighter API keys are 40 bytes, 0x + 80 hex chars). It has never been registered on any
# real Lighter account; the emulator does not verify signatures.
SIM_API_PRIVATE_KEY = "0x61849c4cc5d64ac19ae3071b2088972a41ba5e3d6dc5ebc1aed2bd75bc9bb076e0eae0758124760c"
SIM_ACCOUNT_INDEX = 281474
SIM_API_KEY_INDEX = 4

#: what a user runs when the signer is missing (the Makefile does the same)
INSTALL_HINT = "install it with: pip install --no-deps lighter-sdk==1.1.8"


def library_filename(system: str | None = None, machine: str | None = None) -> str:
    """The signer file name for this platform, e.g. ``lighter-signer-linux-amd64.so``.

    Raises :class:`~perpdex.errors.DependencyMissing` (a RuntimeError) on a platform the SDK
    ships no binary for."""
    system = (system or sys.platform).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if arch is None:
        raise DependencyMissing(f"signer: no Lighter signer binary for CPU architecture {machine!r}", exchange="lighter")
    if system.startswith("linux"):
        return f"lighter-signer-linux-{arch}.so"
    if system == "darwin":
        return f"lighter-signer-darwin-{arch}.dylib"
    if system.startswith("win") and arch == "amd64":
        return "lighter-signer-windows-amd64.dll"
    raise DependencyMissing(f"signer: no Lighter signer binary for platform {system}/{machine}", exchange="lighter")


def find_signer_library() -> str:
    """Absolute path of the signer library from the installed ``lighter-sdk`` distribution.

    Raises :class:`~perpdex.errors.DependencyMissing` (a RuntimeError) when lighter-sdk is not
    installed or has no binary for this platform (``pip install --no-deps lighter-sdk==1.1.8``)."""
    name = library_filename()
    try:
        files = importlib.metadata.files("lighter-sdk") or []
    except importlib.metadata.PackageNotFoundError:
        raise DependencyMissing(INSTALL_HINT, exchange="lighter") from None
    for f in files:
        if f.name == name:
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return str(path)
    raise DependencyMissing(f"signer: {name} not found in the installed lighter-sdk; {INSTALL_HINT}", exchange="lighter")


def self_test() -> str:
    """Load the signer library and sign an auth token with the throw-away key above, offline (no
    network; ccxt's own binding to the library). Returns one line naming the library; raises
    :class:`~perpdex.errors.DependencyMissing` when it is absent or does not sign."""
    import time

    import ccxt  # the synchronous ccxt: its Lighter binding is the one the client uses

    path = find_signer_library()
    ex = ccxt.lighter({"urls": {"api": {"public": "http://127.0.0.1:9"}}})
    try:
        signer = ex.load_lighter_library(path, 304, SIM_API_PRIVATE_KEY, SIM_API_KEY_INDEX, SIM_ACCOUNT_INDEX, True)
        token = ex.lighter_create_auth_token(signer, {"deadline": int(time.time()) + 600,
                                                      "api_key_index": SIM_API_KEY_INDEX,
                                                      "account_index": SIM_ACCOUNT_INDEX})
    except Exception as exc:  # noqa: BLE001 - any failure of the native library is "does not sign"
        raise DependencyMissing(f"signer: {Path(path).name} does not sign ({type(exc).__name__}); {INSTALL_HINT}",
                                exchange="lighter") from None
    if not isinstance(token, str) or token.count(":") < 3:
        raise DependencyMissing(f"signer: {Path(path).name} returned no auth token; {INSTALL_HINT}", exchange="lighter")
    return f"{Path(path).name} signs (auth token of {len(token)} chars)"
