"""Named trading accounts: per-exchange credentials encrypted at rest under a master key
(:mod:`.vault`), stored beside positions (:mod:`.repository`), decrypted only in memory for
``perpdex run --account NAME``."""

from .errors import AccountError, VaultError, WrongMasterKey
from .fields import credential_fields, validate_account_name, validate_fields
from .redaction import RedactingFilter, redact_logs
from .repository import AccountInfo, AccountRepository, CredentialInfo
from .vault import Vault, load_vault, read_key_file, write_key_file

__all__ = [
    "AccountError", "AccountInfo", "AccountRepository", "CredentialInfo", "RedactingFilter", "Vault", "VaultError", "WrongMasterKey",
    "credential_fields", "load_vault", "read_key_file", "redact_logs", "validate_account_name", "validate_fields", "write_key_file",
]
