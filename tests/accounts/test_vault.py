"""The credentials vault: AES-256-GCM round trip, tamper and wrong-key detection with clear messages
that leak nothing, key file permissions, where the master key comes from (E11)."""

from __future__ import annotations

import base64
import os

import pytest

from perpdex.accounts import Vault, VaultError, WrongMasterKey, load_vault, read_key_file, write_key_file

SECRET = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
FIELDS = {"private_key": SECRET, "account_index": 42}


def _leaks(text: str, vault_key_text: str) -> bool:
    return SECRET in text or SECRET[2:] in text or vault_key_text in text


def test_E11_round_trip_and_the_ciphertext_shows_nothing():
    vault, key_text = Vault.generate()
    blob = vault.encrypt("alice", "aster", FIELDS)
    assert vault.decrypt("alice", "aster", blob, vault.key_id) == FIELDS
    assert SECRET.encode() not in blob and SECRET[2:].encode() not in blob and b"private_key" not in blob
    assert vault.encrypt("alice", "aster", FIELDS) != blob  # a fresh nonce every time
    assert key_text not in repr(vault) and vault.key_id in repr(vault)


def test_E11_tampered_ciphertext_fails_without_leaking():
    vault, key_text = Vault.generate()
    blob = vault.encrypt("alice", "aster", FIELDS)
    for i in (1, 5, 13, len(blob) // 2, len(blob) - 1):  # nonce, body, tag
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(WrongMasterKey, match="tampered") as err:
            vault.decrypt("alice", "aster", bytes(bad), vault.key_id)
        assert not _leaks(str(err.value), key_text)
    with pytest.raises(WrongMasterKey):
        vault.decrypt("alice", "aster", blob[:20], vault.key_id)  # truncated
    with pytest.raises(WrongMasterKey):
        vault.decrypt("alice", "aster", b"\x02" + blob[1:], vault.key_id)  # unknown version


def test_E11_ciphertext_is_bound_to_its_account_and_exchange():
    vault, _ = Vault.generate()
    blob = vault.encrypt("alice", "aster", FIELDS)
    with pytest.raises(WrongMasterKey):
        vault.decrypt("bob", "aster", blob, vault.key_id)
    with pytest.raises(WrongMasterKey):
        vault.decrypt("alice", "backpack", blob, vault.key_id)


def test_E11_wrong_master_key_says_which_key_id_without_leaking():
    right, right_text = Vault.generate()
    wrong, wrong_text = Vault.generate()
    blob = right.encrypt("alice", "aster", FIELDS)
    with pytest.raises(WrongMasterKey) as err:
        wrong.decrypt("alice", "aster", blob, right.key_id)
    msg = str(err.value)
    assert f"master key does not match key_id {right.key_id}" in msg and wrong.key_id in msg
    assert not _leaks(msg, right_text) and wrong_text not in msg
    # without the stored key_id the AEAD itself refuses (InvalidTag), reported the same clear way
    with pytest.raises(WrongMasterKey, match="another master key") as err:
        wrong.decrypt("alice", "aster", blob)
    assert not _leaks(str(err.value), right_text)


def test_key_id_is_a_short_fingerprint_not_the_key():
    vault, key_text = Vault.generate()
    raw = base64.urlsafe_b64decode(key_text)
    assert len(vault.key_id) == 16 and int(vault.key_id, 16) >= 0
    assert vault.key_id not in raw.hex() and vault.key_id not in key_text
    assert Vault.from_text(key_text + "\n", "again").key_id == vault.key_id  # deterministic
    assert Vault.generate()[0].key_id != vault.key_id


def test_key_file_is_written_0600_and_never_overwritten(tmp_path):
    path = tmp_path / "master.key"
    old_umask = os.umask(0)  # even a permissive umask gives 0600
    try:
        vault = write_key_file(path)
    finally:
        os.umask(old_umask)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_key_file(path).key_id == vault.key_id
    with pytest.raises(VaultError, match="already exists"):
        write_key_file(path)
    assert read_key_file(path).key_id == vault.key_id


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_key_file_readable_or_writable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / "master.key"
    write_key_file(path)
    key_text = path.read_text().strip()
    os.chmod(path, mode)
    with pytest.raises(VaultError) as err:
        read_key_file(path)
    msg = str(err.value)
    assert f"mode {mode:04o}" in msg and f"chmod 600 {path}" in msg and key_text not in msg
    os.chmod(path, 0o400)  # owner read-only is fine
    assert read_key_file(path).key_id


def test_malformed_or_missing_key_is_a_clear_error(tmp_path):
    with pytest.raises(VaultError, match="32 bytes"):
        Vault.from_text(base64.urlsafe_b64encode(b"short").decode(), "$PERPDEX_MASTER_KEY")
    with pytest.raises(VaultError, match="not base64") as err:
        Vault.from_text("not a key at all!", "$PERPDEX_MASTER_KEY")
    assert "not a key at all" not in str(err.value)
    with pytest.raises(VaultError, match="does not exist"):
        read_key_file(tmp_path / "nope.key")
    with pytest.raises(VaultError, match="PERPDEX_MASTER_KEY.*keygen"):
        load_vault(env={})
    with pytest.raises(VaultError, match="PERPDEX_OLD_MASTER_KEY"):
        load_vault(env={"PERPDEX_MASTER_KEY": Vault.generate()[1]}, old=True)


def test_master_key_sources_in_order(tmp_path):
    files = {}
    for name in ("option", "env_file", "config"):
        files[name] = tmp_path / f"{name}.key"
        write_key_file(files[name])
    env_vault, env_text = Vault.generate()
    ids = {name: read_key_file(p).key_id for name, p in files.items()}
    env = {"PERPDEX_MASTER_KEY": env_text, "PERPDEX_MASTER_KEY_FILE": str(files["env_file"])}
    assert load_vault(files["option"], config_key_file=files["config"], env=env).key_id == ids["option"]
    assert load_vault(config_key_file=files["config"], env=env).key_id == env_vault.key_id
    del env["PERPDEX_MASTER_KEY"]
    assert load_vault(config_key_file=files["config"], env=env).key_id == ids["env_file"]
    assert load_vault(config_key_file=files["config"], env={}).key_id == ids["config"]
    old_env = {"PERPDEX_OLD_MASTER_KEY_FILE": str(files["config"])}
    assert load_vault(env=old_env, old=True).key_id == ids["config"]
