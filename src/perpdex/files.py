"""Files only their owner reads: the database, reports, plots and recordings.

A bot's database holds its positions, orders and (encrypted) account credentials; its reports and
recordings show sizes, prices and PnL. Under the usual umask 022 a plain ``open()`` makes them
readable by every user of the machine, so every writer of such a file goes through here: files
are created (or tightened when they already exist) with mode 0600, directories with 0700,
whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600 when absent, else set its mode to 0600 (its content is
    kept); returns it as a :class:`~pathlib.Path`. Raises :class:`OSError` when it cannot."""
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT; the umask narrows new ones
    finally:
        os.close(fd)
    return p


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create directory ``path`` (and its parents) when absent and set its mode to 0700; returns it."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    os.chmod(p, DIR_MODE)
    return p


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing (``w``, ``wb``, ``a``, ``ab``, ``x``...) with the file at
    mode 0600 before anything is written."""
    private_file(path)
    return open(path, mode, **kwargs)  # noqa: SIM115 - the caller closes it


def write_private_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path``'s content with ``text``, the file at mode 0600."""
    with open_private(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def write_private_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path``'s content with ``data``, the file at mode 0600."""
    with open_private(path, "wb") as f:
        f.write(data)
    return Path(path)
