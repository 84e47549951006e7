"""Files only their owner reads (perpdex.files): created 0600 / 0700 whatever the umask, and an
existing file tightened without losing its content."""

from __future__ import annotations

import os
import stat

import pytest

from perpdex.files import open_private, private_dir, private_file, write_private_bytes, write_private_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o000)  # the widest umask: a plain open() would make 0666 files
    try:
        yield
    finally:
        os.umask(old)


def test_new_files_and_dirs_are_owner_only(tmp_path, open_umask):
    d = private_dir(tmp_path / "rec" / "aster")
    assert mode(d) == 0o700
    assert mode(write_private_text(d / "a.json", "{}")) == 0o600
    assert mode(write_private_bytes(d / "b.bin", b"\x00")) == 0o600
    with open_private(d / "c.log", "a") as f:
        f.write("x")
    assert mode(d / "c.log") == 0o600
    (tmp_path / "plain").write_text("x")
    assert mode(tmp_path / "plain") == 0o666  # the umask really was open: the helpers made the difference


def test_an_existing_world_readable_file_is_tightened_and_kept(tmp_path):
    p = tmp_path / "old.db"
    p.write_bytes(b"SQLite format 3\x00")
    os.chmod(p, 0o644)
    private_file(p)
    assert mode(p) == 0o600 and p.read_bytes() == b"SQLite format 3\x00"
