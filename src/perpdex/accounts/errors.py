"""Errors of the accounts feature. Messages name the account, exchange, field, file or key id
involved and never contain a credential value or key material."""

from __future__ import annotations

from ..errors import PerpdexError


class AccountError(PerpdexError):
    """Bad account input: unknown account, invalid name, missing or unknown credential field."""


class VaultError(PerpdexError):
    """The master key is missing, malformed, or its key file is readable by group/others."""


class WrongMasterKey(VaultError):
    """Ciphertext that the given master key cannot open (another key, or tampered data)."""
