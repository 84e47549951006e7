"""The credentials vault: one master key sealing each exchange's credential fields with AES-256-GCM.

* Master key: 32 random bytes written as URL-safe base64 (44 characters), from the environment
  variable ``PERPDEX_MASTER_KEY`` or a key file (mode 0600: a key file readable or writable by
  group/others is refused). ``perpdex accounts keygen`` writes one.
* ``key_id``: the first 16 hex digits of SHA-256 over a fixed label and the key: names the key
  that sealed a row (so a wrong key is reported as such, and ``rotate-key`` knows what to
  re-encrypt) without revealing anything usable about it.
* Ciphertext: ``b"\\x01" + nonce (12 random bytes) + AES-GCM(JSON of the fields) + tag (16 bytes)``,
  with the account name and the exchange as associated data: a row copied onto another account or
  exchange does not open.

Nothing here logs, and no exception message carries key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import VaultError, WrongMasterKey

KEY_ENV = "PERPDEX_MASTER_KEY"  # the key itself (base64)
KEY_FILE_ENV = "PERPDEX_MASTER_KEY_FILE"  # a path to a 0600 key file
OLD_KEY_ENV = "PERPDEX_OLD_MASTER_KEY"  # rotate-key: the key being replaced
OLD_KEY_FILE_ENV = "PERPDEX_OLD_MASTER_KEY_FILE"

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_ID_LABEL = b"perpdex master key id v1\x00"


def _associated_data(account: str, exchange: str) -> bytes:
    return b"perpdex credentials v1\x00" + account.encode() + b"\x00" + exchange.encode()


class Vault:
    """Encrypts and decrypts one exchange's credential fields (a JSON object) under a master key.
    ``source`` says where the key came from (for messages; never the key)."""

    __slots__ = ("_aead", "key_id", "source")

    def __init__(self, key: bytes, source: str = "master key") -> None:
        if len(key) != KEY_BYTES:
            raise VaultError(f"{source}: a master key is {KEY_BYTES} bytes, got {len(key)} "
                             "(generate one with 'perpdex accounts keygen')")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]
        self.source = source

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id!r}, source={self.source!r})"

    @classmethod
    def from_text(cls, text: str, source: str) -> Vault:
        """A vault from the base64 text of a key (surrounding whitespace ignored)."""
        raw = text.strip()
        try:
            key = base64.b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise VaultError(f"{source}: not base64 text of a {KEY_BYTES}-byte key "
                             "(generate one with 'perpdex accounts keygen')") from None
        return cls(key, source)

    @classmethod
    def generate(cls) -> tuple[Vault, str]:
        """A new random key: (its vault, its base64 text to store)."""
        text = base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()
        return cls.from_text(text, "new key"), text

    def encrypt(self, account: str, exchange: str, fields: Mapping[str, Any]) -> bytes:
        """The sealed JSON of ``fields`` for ``account`` on ``exchange``."""
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(dict(fields), sort_keys=True, separators=(",", ":")).encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, _associated_data(account, exchange))

    def decrypt(self, account: str, exchange: str, blob: bytes, key_id: str | None = None) -> dict[str, Any]:
        """The fields sealed in ``blob``. ``key_id``: the id stored with it; when it is not this
        key's the error says so without trying. Raises :class:`WrongMasterKey`."""
        where = f"credentials of account '{account}' on {exchange}"
        if key_id is not None and key_id != self.key_id:
            raise WrongMasterKey(f"master key does not match key_id {key_id} of the {where} "
                                 f"(the {self.source} has key_id {self.key_id})")
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise WrongMasterKey(f"the {where} are not a sealed blob this version of perpdex reads")
        try:
            plain = self._aead.decrypt(blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:],
                                       _associated_data(account, exchange))
        except InvalidTag:
            raise WrongMasterKey(f"the {where} fail authentication with key_id {self.key_id}: "
                                 "another master key sealed them, or they were tampered with") from None
        return json.loads(plain)


def check_key_file_mode(path: Path) -> None:
    """Raise :class:`VaultError` unless ``path`` is a regular file with no group/other permission."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VaultError(f"key file {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise VaultError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise VaultError(f"key file {path} has mode {mode:04o}: it must not be readable or writable by "
                         f"group/others (run: chmod 600 {path})")


def read_key_file(path: str | Path) -> Vault:
    """The vault of a key file (permissions checked first)."""
    p = Path(path).expanduser()
    check_key_file_mode(p)
    return Vault.from_text(p.read_text(), f"key file {p}")


def write_key_file(path: str | Path) -> Vault:
    """Create ``path`` (mode 0600, refusing to overwrite) holding a new random key; its vault."""
    p = Path(path).expanduser()
    vault, text = Vault.generate()
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultError(f"key file {p} already exists (not overwritten)") from None
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)  # whatever the umask
    vault.source = f"key file {p}"
    return vault


def load_vault(key_file: str | Path | None = None, *, config_key_file: str | Path | None = None,
               env: Mapping[str, str] | None = None, old: bool = False) -> Vault:
    """The master key, first found of: ``key_file`` (a CLI option), ``$PERPDEX_MASTER_KEY``,
    ``$PERPDEX_MASTER_KEY_FILE``, ``config_key_file`` (config ``accounts.key_file``). ``old``: the
    key being rotated away from (``$PERPDEX_OLD_MASTER_KEY`` / ``$PERPDEX_OLD_MASTER_KEY_FILE``;
    no config fallback). Raises :class:`VaultError` when none is given."""
    env = os.environ if env is None else env
    key_var, file_var = (OLD_KEY_ENV, OLD_KEY_FILE_ENV) if old else (KEY_ENV, KEY_FILE_ENV)
    if key_file:
        return read_key_file(key_file)
    if env.get(key_var):
        return Vault.from_text(env[key_var], f"${key_var}")
    if env.get(file_var):
        return read_key_file(env[file_var])
    if config_key_file and not old:
        return read_key_file(config_key_file)
    what = "old master key" if old else "master key"
    raise VaultError(f"no {what}: set ${key_var} or ${file_var}"
                     + ("" if old else ", accounts.key_file in the config,") + " or pass a key file option "
                     "(create one with 'perpdex accounts keygen')")
