"""Accounts and their encrypted credentials in the store (tables ``accounts`` and
``account_credentials``). Plaintext exists only in memory, between :meth:`credentials` and the
exchange clients; listings carry names, exchanges, key ids and times, never values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..storage.models import AccountRow, CredentialRow, utcnow
from .errors import AccountError, WrongMasterKey
from .fields import validate_account_name, validate_fields
from .vault import Vault


@dataclass(frozen=True)
class CredentialInfo:
    """One stored credential set: which exchange, the key that sealed it, when (UTC)."""

    exchange: str
    key_id: str
    updated_at: datetime


@dataclass(frozen=True)
class AccountInfo:
    name: str
    created_at: datetime
    credentials: list[CredentialInfo] = field(default_factory=list)


class AccountRepository:
    """``sessions``: the store's session factory (:attr:`perpdex.storage.Store.sessions`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @staticmethod
    async def _account(s: AsyncSession, name: str) -> AccountRow | None:
        return (await s.scalars(select(AccountRow).where(AccountRow.name == name))).first()

    async def set_credentials(self, name: str, exchange: str, fields: Mapping[str, Any], vault: Vault) -> bool:
        """Store (add or replace) ``exchange``'s credentials of account ``name``, creating the
        account if needed; True when the account is new. Fields are validated for the exchange."""
        validate_account_name(name)
        clean = validate_fields(exchange, fields)
        async with self.sessions() as s, s.begin():
            other = (await s.scalars(select(CredentialRow.key_id).where(CredentialRow.key_id != vault.key_id))).first()
            if other is not None:
                raise WrongMasterKey(f"master key does not match key_id {other} of the stored credentials (the "
                                     f"{vault.source} has key_id {vault.key_id}); use that key, or rotate-key first")
            acct = await self._account(s, name)
            created = acct is None
            if acct is None:
                acct = AccountRow(name=name)
                s.add(acct)
                await s.flush()
            row = (await s.scalars(select(CredentialRow).where(
                CredentialRow.account_id == acct.id, CredentialRow.exchange == exchange))).first()
            blob = vault.encrypt(name, exchange, clean)
            if row is None:
                s.add(CredentialRow(account_id=acct.id, exchange=exchange, ciphertext=blob, key_id=vault.key_id,
                                    updated_at=utcnow()))
            else:
                row.ciphertext, row.key_id, row.updated_at = blob, vault.key_id, utcnow()
        return created

    async def list(self) -> list[AccountInfo]:
        """Every account (by name) with its exchanges, key ids and update times; no values."""
        async with self.sessions() as s:
            accounts = (await s.scalars(select(AccountRow).order_by(AccountRow.name))).all()
            rows = (await s.execute(select(CredentialRow.account_id, CredentialRow.exchange, CredentialRow.key_id,
                                           CredentialRow.updated_at).order_by(CredentialRow.exchange))).all()
        by_id: dict[int, list[CredentialInfo]] = {}
        for account_id, exchange, key_id, updated_at in rows:
            by_id.setdefault(account_id, []).append(CredentialInfo(exchange, key_id, updated_at))
        return [AccountInfo(a.name, a.created_at, by_id.get(a.id, [])) for a in accounts]

    async def delete(self, name: str, exchange: str | None = None) -> None:
        """Delete account ``name`` with all its credentials, or only ``exchange``'s credentials.
        Positions keep their account name (history)."""
        async with self.sessions() as s, s.begin():
            acct = await self._account(s, name)
            if acct is None:
                raise AccountError(f"no account named '{name}'")
            q = delete(CredentialRow).where(CredentialRow.account_id == acct.id)
            if exchange is not None:
                q = q.where(CredentialRow.exchange == exchange)
                if (await s.execute(q)).rowcount == 0:  # type: ignore[attr-defined]  # a DELETE's Result is a CursorResult
                    raise AccountError(f"account '{name}' has no {exchange} credentials")
                return
            await s.execute(q)  # explicit: SQLite enforces ON DELETE CASCADE only with a PRAGMA
            await s.delete(acct)

    async def credentials(self, name: str, vault: Vault) -> dict[str, dict[str, Any]]:
        """Exchange -> decrypted credential fields of account ``name`` (in memory only).
        Raises :class:`AccountError` (unknown account) or :class:`WrongMasterKey`."""
        async with self.sessions() as s:
            acct = await self._account(s, name)
            if acct is None:
                raise AccountError(f"no account named '{name}' (see 'perpdex accounts list')")
            rows = (await s.scalars(select(CredentialRow).where(CredentialRow.account_id == acct.id)
                                    .order_by(CredentialRow.exchange))).all()
        return {r.exchange: vault.decrypt(name, r.exchange, r.ciphertext, r.key_id) for r in rows}

    async def rotate_key(self, old: Vault, new: Vault) -> int:
        """Re-encrypt every credential sealed by ``old`` under ``new``, in one transaction (all or
        nothing); returns how many were re-encrypted. Rows already under ``new`` are left alone;
        a row under any other key aborts the rotation with :class:`WrongMasterKey` naming it."""
        if old.key_id == new.key_id:
            raise AccountError(f"the old and the new master key are the same key (key_id {new.key_id})")
        async with self.sessions() as s, s.begin():
            rows = (await s.execute(select(CredentialRow, AccountRow.name)
                                    .join(AccountRow, AccountRow.id == CredentialRow.account_id))).all()
            foreign = sorted({(name, r.exchange, r.key_id) for r, name in rows if r.key_id not in (old.key_id, new.key_id)})
            if foreign:
                listed = ", ".join(f"{n}/{ex} (key_id {k})" for n, ex, k in foreign)
                raise WrongMasterKey(f"old master key (key_id {old.key_id}) does not match: {listed}; nothing changed")
            count = 0
            now = utcnow()
            for row, name in rows:
                if row.key_id != old.key_id:
                    continue
                fields = old.decrypt(name, row.exchange, row.ciphertext, row.key_id)
                row.ciphertext, row.key_id, row.updated_at = new.encrypt(name, row.exchange, fields), new.key_id, now
                count += 1
        return count
