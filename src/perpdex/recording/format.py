"""The recording file format: zstandard-compressed blocks of length-prefixed, CRC-checked records.

A recording file (``<exchange>/<n>.rec.zst``) is a sequence of **blocks**. Each block is

1. a zstd *skippable frame* (magic ``0x184D2A5B``, 8 bytes of user data: the compressed length
   of the next frame, u32 LE, and the CRC32 of those compressed bytes), then
2. one ordinary zstd frame (content size and xxhash checksum written) holding whole records.

Standard tools read it (``zstd -dc 00000.rec.zst`` skips the skippable frames), each block can be
decompressed on its own, and a reader that meets a damaged or truncated block reports the file
and byte offset and carries on at the next block header (:func:`read_file`).

Inside a block, every record is a 24-byte header plus the payload, little-endian::

    magic  2s   b"\\xd7\\x1a"
    kind   u8   OPEN=1 | TEXT=2 | BINARY=3 | CLOSE=4 | REST=5
    flags  u8   0 (reserved)
    length u32  payload bytes
    ts_ns  u64  receive time, ns since the epoch (time.time_ns())
    conn   u32  connection id (per exchange; REST records carry 0)
    crc    u32  CRC32 of the 18 header bytes after the magic (without crc) and the payload

Payloads: TEXT / BINARY the WebSocket message exactly as received (text as UTF-8); OPEN the JSON
``{"url": ...}`` of the connection; CLOSE empty; REST a JSON line ``{"method", "url", "params",
"status"}``, ``\\n``, then the response body as received.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

try:
    import zstandard
except ImportError as exc:  # pragma: no cover - a declared dependency
    raise ImportError("recording needs the 'zstandard' package: pip install zstandard") from exc

log = logging.getLogger(__name__)

OPEN, TEXT, BINARY, CLOSE, REST = 1, 2, 3, 4, 5
KIND_NAMES = {OPEN: "open", TEXT: "text", BINARY: "binary", CLOSE: "close", REST: "rest"}

MAGIC = b"\xd7\x1a"
_HEADER = struct.Struct("<2sBBIQII")  # magic, kind, flags, length, ts_ns, conn, crc
HEADER_SIZE = _HEADER.size  # 24
_CRC_SPAN = slice(2, HEADER_SIZE - 4)  # the header bytes covered by the CRC
MAX_RECORD = 64 << 20  # a larger length is corruption

_SKIP_MAGIC = struct.pack("<I", 0x184D2A5B)
_SKIP = struct.Struct("<4sIII")  # magic, user-data size (8), compressed length, crc32
SKIP_SIZE = _SKIP.size  # 16
FILE_SUFFIX = ".rec.zst"

Record = tuple[int, int, int, bytes]  # kind, ts_ns, conn, payload


def pack_record(kind: int, ts_ns: int, conn: int, payload: bytes) -> bytes:
    """One record (header + payload) as bytes."""
    head = _HEADER.pack(MAGIC, kind, 0, len(payload), ts_ns, conn, 0)
    crc = zlib.crc32(payload, zlib.crc32(head[_CRC_SPAN]))
    return head[:-4] + struct.pack("<I", crc) + payload


_rest_meta = msgspec.json.Encoder()


class RestMeta(msgspec.Struct):
    method: str
    url: str
    params: dict[str, str] | None
    status: int


_rest_meta_decode = msgspec.json.Decoder(RestMeta).decode


def rest_payload(method: str, url: str, params: dict[str, Any] | None, status: int, body: bytes) -> bytes:
    """A REST record's payload: the request line as JSON, ``\\n``, the body."""
    p = {str(k): str(v) for k, v in params.items()} if params else None
    return _rest_meta.encode(RestMeta(method, url, p, status)) + b"\n" + body


def split_rest(payload: bytes) -> tuple[RestMeta, bytes]:
    """(request, body) of a REST record's payload; raises ValueError when malformed."""
    head, sep, body = payload.partition(b"\n")
    if not sep:
        raise ValueError("REST record without a request line")
    try:
        return _rest_meta_decode(head), body
    except msgspec.DecodeError as exc:
        raise ValueError(f"REST record with a bad request line: {exc}") from None


def compress_block(records: bytes, cctx: zstandard.ZstdCompressor) -> bytes:
    """A block (skippable header + zstd frame) holding ``records`` (whole packed records)."""
    frame = cctx.compress(records)
    return _SKIP.pack(_SKIP_MAGIC, 8, len(frame), zlib.crc32(frame)) + frame


def new_compressor(level: int = 3) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadError:
    """A damaged part of a recording: ``file``, byte ``offset`` in the file (of the block, or of
    the record inside the decompressed block when ``record_offset`` is set) and what was wrong."""

    file: str
    offset: int
    message: str
    record_offset: int | None = None

    def __str__(self) -> str:
        where = f"{self.file} at byte {self.offset}"
        if self.record_offset is not None:
            where += f" (record at byte {self.record_offset} of the decompressed block)"
        return f"{where}: {self.message}"


OnError = Callable[[ReadError], None]


def _log_error(err: ReadError) -> None:
    log.warning("recording damaged: %s; going on from the next valid record", err)


def read_file(path: str | Path, on_error: OnError = _log_error) -> Iterator[Record]:
    """Every valid record of one file, in order, as ``(kind, ts_ns, conn, payload)``. A damaged
    block or record is reported to ``on_error`` (file, offset, reason; logged by default) and
    skipped: reading resumes at the next block header or record magic. Raises OSError when the
    file cannot be read."""
    for block in read_blocks(path, on_error):
        yield from block


def read_blocks(path: str | Path, on_error: OnError = _log_error) -> Iterator[list[Record]]:
    """:func:`read_file` one block at a time (a list of records per block: the fast path)."""
    name = str(path)
    data = Path(path).read_bytes()
    view = memoryview(data)
    dctx = zstandard.ZstdDecompressor()
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < SKIP_SIZE:
            on_error(ReadError(name, pos, f"truncated: {end - pos} trailing bytes are not a block"))
            return
        magic, size, clen, crc = _SKIP.unpack_from(data, pos)
        if magic != _SKIP_MAGIC or size != 8:
            nxt = _next_block(data, pos + 1)
            on_error(ReadError(name, pos, f"no block header here; skipped {nxt - pos} bytes"))
            pos = nxt
            continue
        start = pos + SKIP_SIZE
        frame = view[start:start + clen]
        if start + clen > end:
            on_error(ReadError(name, pos, f"truncated block: {clen} compressed bytes announced, "
                                          f"{end - start} present"))
            yield _salvage(name, pos, frame, on_error)
            return
        if zlib.crc32(frame) != crc:
            nxt = _next_block(data, pos + 1)
            on_error(ReadError(name, pos, f"corrupted block (CRC mismatch); skipped {nxt - pos} bytes"))
            pos = nxt
            continue
        try:
            block = dctx.decompress(frame)
        except zstandard.ZstdError as exc:
            nxt = _next_block(data, pos + 1)
            on_error(ReadError(name, pos, f"corrupted block ({exc}); skipped {nxt - pos} bytes"))
            pos = nxt
            continue
        yield parse_block(block, name, pos, on_error)
        pos = start + clen


def _next_block(data: bytes, start: int) -> int:
    """Offset of the next plausible block header at or after ``start`` (end of data if none)."""
    i = data.find(_SKIP_MAGIC, start)
    while i != -1:
        if i + SKIP_SIZE <= len(data) and _SKIP.unpack_from(data, i)[1] == 8:
            return i
        i = data.find(_SKIP_MAGIC, i + 1)
    return len(data)


def _salvage(name: str, pos: int, frame: memoryview, on_error: OnError) -> list[Record]:
    """The whole records at the start of a truncated block."""
    try:
        block = zstandard.ZstdDecompressor().decompressobj().decompress(frame)
    except zstandard.ZstdError:
        return []
    return parse_block(block, name, pos, on_error, truncated=True)


def iter_records(block: bytes, name: str = "<block>", block_offset: int = 0, on_error: OnError = _log_error,
                 truncated: bool = False) -> Iterator[Record]:
    """The records of one decompressed block (see :func:`parse_block`)."""
    return iter(parse_block(block, name, block_offset, on_error, truncated))


def parse_block(block: bytes, name: str = "<block>", block_offset: int = 0, on_error: OnError = _log_error,
                truncated: bool = False) -> list[Record]:
    """The records of one decompressed block; a bad record is reported and the scan resumes at
    the next record magic. ``truncated``: the block is the readable start of a cut-off block (an
    incomplete last record is then expected and not reported again)."""
    out: list[Record] = []
    append = out.append
    off, n = 0, len(block)
    unpack = _HEADER.unpack_from
    crc32 = zlib.crc32
    while off < n:
        if n - off < HEADER_SIZE:
            if not truncated:
                on_error(ReadError(name, block_offset, "incomplete record header", off))
            return out
        magic, kind, _flags, length, ts, conn, crc = unpack(block, off)
        body_end = off + HEADER_SIZE + length
        bad = None
        if magic != MAGIC:
            bad = "bad record magic"
        elif length > MAX_RECORD or kind not in KIND_NAMES:
            bad = f"implausible record (kind {kind}, length {length})"
        elif body_end > n:
            if truncated:
                return out
            bad = f"record of {length} bytes runs past the end of its block"
        else:
            payload = block[off + HEADER_SIZE:body_end]
            if crc32(payload, crc32(block[off + 2:off + HEADER_SIZE - 4])) == crc:
                append((kind, ts, conn, payload))
                off = body_end
                continue
            bad = "record CRC mismatch"
        on_error(ReadError(name, block_offset, bad, off))
        nxt = block.find(MAGIC, off + 1)
        if nxt == -1:
            return out
        off = nxt
    return out


def recording_files(directory: str | Path) -> list[Path]:
    """The files of one exchange's directory, in recording order."""
    return sorted(Path(directory).glob(f"*{FILE_SUFFIX}"))
