"""Accounts in the store: add/replace, list (never values), delete, decrypt, rotate-key in one
transaction; credential fields come from the exchange layer (E11). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from perpdex.accounts import AccountError, AccountRepository, Vault, WrongMasterKey, credential_fields, validate_fields
from perpdex.exchanges import registry
from perpdex.storage.models import AccountRow, CredentialRow

ALICE_BP = {"api_key": "YWxpY2UtcHVibGljLWtleS0wMDAwMDAwMDAwMDAwMDA=", "api_secret": "YWxpY2Utc2VjcmV0LXNlZWQtMDAwMDAwMDAwMDAwMDA="}
ALICE_AS = {"private_key": "0x" + "a1" * 32}
BOB_BP = {"api_key": "Ym9iLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=", "api_secret": "Ym9iLXNlY3JldC1zZWVkLTAwMDAwMDAwMDAwMDAwMDA="}
BOB_AS = {"private_key": "0x" + "b2" * 32}
SECRETS = [v for d in (ALICE_BP, ALICE_AS, BOB_BP, BOB_AS) for v in d.values()]


async def _fill(repo: AccountRepository, vault: Vault) -> None:
    assert await repo.set_credentials("alice", "backpack", ALICE_BP, vault)
    assert not await repo.set_credentials("alice", "aster", ALICE_AS, vault)
    await repo.set_credentials("bob", "backpack", BOB_BP, vault)
    await repo.set_credentials("bob", "aster", BOB_AS, vault)


async def _rows(store) -> list[CredentialRow]:
    async with store.sessions() as s:
        return list((await s.scalars(select(CredentialRow).order_by(CredentialRow.id))).all())


async def test_E11_add_list_decrypt_and_nothing_in_clear(store):
    vault, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    await _fill(repo, vault)
    assert await repo.credentials("alice", vault) == {"aster": ALICE_AS, "backpack": ALICE_BP}
    assert await repo.credentials("bob", vault) == {"aster": BOB_AS, "backpack": BOB_BP}
    listing = await repo.list()
    assert [(a.name, [c.exchange for c in a.credentials]) for a in listing] == [
        ("alice", ["aster", "backpack"]), ("bob", ["aster", "backpack"])]
    assert all(c.key_id == vault.key_id for a in listing for c in a.credentials)
    text = repr(listing)
    for rows in await _rows(store):
        text += repr(rows.ciphertext)  # the stored bytes, as any reader of the database sees them
    assert not [s for s in SECRETS if s in text or s.removeprefix("0x") in text]


async def test_replacing_credentials_keeps_one_row_per_exchange(store):
    vault, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    await _fill(repo, vault)
    before = {(r.account_id, r.exchange): r.updated_at for r in await _rows(store)}
    await repo.set_credentials("alice", "aster", BOB_AS, vault)
    assert (await repo.credentials("alice", vault))["aster"] == BOB_AS
    after = {(r.account_id, r.exchange): r.updated_at for r in await _rows(store)}
    assert after.keys() == before.keys()


async def test_delete_account_or_one_exchange(store):
    vault, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    await _fill(repo, vault)
    await repo.delete("alice", "aster")
    assert list(await repo.credentials("alice", vault)) == ["backpack"]
    with pytest.raises(AccountError, match="has no aster credentials"):
        await repo.delete("alice", "aster")
    await repo.delete("alice")
    assert [a.name for a in await repo.list()] == ["bob"]
    assert len(await _rows(store)) == 2  # alice's credentials went with her
    with pytest.raises(AccountError, match="no account named 'alice'"):
        await repo.delete("alice")
    with pytest.raises(AccountError, match="no account named 'alice'"):
        await repo.credentials("alice", vault)


async def test_E11_rotate_key_reencrypts_everything_and_the_old_key_no_longer_opens(store):
    old, old_text = Vault.generate()
    new, new_text = Vault.generate()
    repo = AccountRepository(store.sessions)
    await _fill(repo, old)
    blobs = {r.id: r.ciphertext for r in await _rows(store)}
    assert await repo.rotate_key(old, new) == 4
    rows = await _rows(store)
    assert {r.key_id for r in rows} == {new.key_id}
    assert all(blobs[r.id] != r.ciphertext for r in rows)
    assert await repo.credentials("alice", new) == {"aster": ALICE_AS, "backpack": ALICE_BP}
    assert await repo.credentials("bob", new) == {"aster": BOB_AS, "backpack": BOB_BP}
    with pytest.raises(WrongMasterKey, match=f"master key does not match key_id {new.key_id}") as err:
        await repo.credentials("alice", old)
    assert old_text not in str(err.value) and new_text not in str(err.value)
    for r in rows:  # not even when forced to try: the AEAD refuses
        with pytest.raises(WrongMasterKey):
            old.decrypt("x", "y", r.ciphertext)
    assert await repo.rotate_key(old, new) == 0  # already done: nothing left under the old key
    with pytest.raises(AccountError, match="same key"):
        await repo.rotate_key(new, new)
    # a new key cannot join a store sealed by another one
    with pytest.raises(WrongMasterKey, match=f"does not match key_id {new.key_id}"):
        await repo.set_credentials("carol", "aster", ALICE_AS, old)


async def test_rotate_key_is_all_or_nothing(store):
    old, _ = Vault.generate()
    other, _ = Vault.generate()
    new, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    await _fill(repo, old)
    async with store.sessions() as s, s.begin():  # one row sealed by a key we are not given
        acct = (await s.scalars(select(AccountRow).where(AccountRow.name == "bob"))).one()
        row = (await s.scalars(select(CredentialRow).where(CredentialRow.account_id == acct.id,
                                                           CredentialRow.exchange == "aster"))).one()
        row.ciphertext, row.key_id = other.encrypt("bob", "aster", BOB_AS), other.key_id
    before = {r.id: (r.key_id, r.ciphertext) for r in await _rows(store)}
    with pytest.raises(WrongMasterKey, match=f"bob/aster \\(key_id {other.key_id}\\); nothing changed"):
        await repo.rotate_key(old, new)
    assert {r.id: (r.key_id, r.ciphertext) for r in await _rows(store)} == before


async def test_bad_names_and_fields_are_refused_naming_the_field(store):
    vault, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    with pytest.raises(AccountError, match="account name"):
        await repo.set_credentials("bad name!", "aster", ALICE_AS, vault)
    with pytest.raises(AccountError, match="unknown field\\(s\\) apiKey .*required: private_key"):
        await repo.set_credentials("alice", "aster", {"apiKey": "x", **ALICE_AS}, vault)
    with pytest.raises(AccountError, match="missing api_secret") as err:
        await repo.set_credentials("alice", "backpack", {"api_key": ALICE_BP["api_key"]}, vault)
    assert ALICE_BP["api_key"] not in str(err.value)
    with pytest.raises(AccountError, match="unknown exchange 'nope'"):
        await repo.set_credentials("alice", "nope", ALICE_AS, vault)
    assert await repo.list() == []


def test_every_exchange_declares_its_credential_fields():
    for name in registry.names():
        required, optional = credential_fields(name)
        assert required, name
        assert not set(required) & set(optional), name
        full = {f: VALID.get(f, "123456") for f in (*required, *optional)}
        assert validate_fields(name, full) == full
        assert validate_fields(name, {**{f: full[f] for f in required}, **{f: "" for f in optional}}) == {
            f: full[f] for f in required}


# a well-formed value of every credential field (the formats each client declares)
VALID = {"private_key": "0x" + "a1" * 32, "api_key": ALICE_BP["api_key"], "api_secret": ALICE_BP["api_secret"],
         "api_private_key": "0x" + "c3" * 40, "account_index": "123456", "api_key_index": "5",
         "l2_private_key": "0x" + "d4" * 31, "l2_address": "0x" + "e5" * 32, "l2_public_key": "0x" + "f6" * 32,
         "l1_address": "0x" + "a7" * 20, "l1_private_key": "0x" + "b8" * 32, "library_path": "/opt/lighter/signer.so"}


@pytest.mark.parametrize("exchange, field, value, expected", [
    ("backpack", "api_secret", "not base64!", "not base64"),
    ("backpack", "api_key", "YWxpY2U=", "32 bytes"),
    ("aster", "private_key", "0x1234", "64 hex digits"),
    ("aster", "private_key", "0x" + "zz" * 32, "not hexadecimal"),
    ("lighter", "api_private_key", "0x" + "c3" * 32, "80 hex digits"),
    ("lighter", "account_index", "alice", "whole number"),
    ("paradex", "l2_address", "0x0", "must not be zero"),
])
def test_a_malformed_credential_is_refused_naming_the_field_never_the_value(exchange, field, value, expected):
    required, _ = credential_fields(exchange)
    fields = {f: VALID[f] for f in required} | {field: value}
    with pytest.raises(AccountError, match=f"{exchange} credentials: field {field}: .*{expected}") as err:
        validate_fields(exchange, fields)
    assert value not in str(err.value)
