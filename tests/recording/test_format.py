"""The recording file format (``recording/format.py``, ``recording/writer.py``): records round-trip
through the threaded writer; a corrupted or truncated file is reported with its name and byte
offset and reading goes on from the next valid block or record; a standard zstd reader
decompresses the files (skippable frames skipped)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import zstandard

from perpdex.recording import format as fmt
from perpdex.recording.writer import Recorder, read_manifest


async def _write(tmp_path: Path, n: int, *, block_bytes: int = 4096, max_file_bytes: int = 1 << 30) -> tuple[Path, list[bytes]]:
    """``n`` text frames of varied size on one connection, small blocks (many per file)."""
    rng = random.Random(5)
    rec = Recorder(tmp_path / "rec", block_bytes=block_bytes, max_file_bytes=max_file_bytes)
    ch = rec.channel("x", symbols=["BTC"])
    conn = ch.open("ws://127.0.0.1:9/stream")
    frames = []
    for i in range(n):
        pad = "".join(rng.choice("abcdef0123") for _ in range(rng.randint(10, 400)))
        text = f'{{"i":{i},"pad":"{pad}"}}'
        frames.append(text.encode())
        ch.frame(conn, text)
    ch.rest_response("GET", "http://127.0.0.1:9/depth", {"symbol": "BTC", "limit": 5}, 200, b'{"ok":1}')
    ch.frame(conn, b"\x00\x01binary")
    frames.append(b"\x00\x01binary")
    manifest = await rec.close()
    assert manifest["exchanges"]["x"]["records"] == n + 3 and manifest["exchanges"]["x"]["dropped"] == 0
    return tmp_path / "rec", frames


def _read_all(files: list[Path]) -> tuple[list[fmt.Record], list[fmt.ReadError]]:
    errors: list[fmt.ReadError] = []
    out = [r for f in files for r in fmt.read_file(f, errors.append)]
    return out, errors


async def test_round_trip_kinds_order_and_manifest(tmp_path):
    d, frames = await _write(tmp_path, 500, max_file_bytes=20_000)
    files = fmt.recording_files(d / "x")
    assert len(files) > 1  # rotated by size
    manifest = read_manifest(d)
    assert manifest["exchanges"]["x"]["files"] == [f"x/{p.name}" for p in files]
    assert manifest["exchanges"]["x"]["symbols"] == ["BTC"] and manifest["ended_ns"] >= manifest["started_ns"]
    recs, errors = _read_all(files)
    assert not errors
    assert [r[0] for r in recs[:2]] == [fmt.OPEN, fmt.TEXT] and recs[-1][0] == fmt.BINARY
    assert [r[3] for r in recs if r[0] in (fmt.TEXT, fmt.BINARY)] == frames
    rest = [r for r in recs if r[0] == fmt.REST]
    meta, body = fmt.split_rest(rest[0][3])
    assert (meta.url, meta.params, meta.status, body) == ("http://127.0.0.1:9/depth", {"symbol": "BTC", "limit": "5"}, 200, b'{"ok":1}')
    ts = [r[1] for r in recs]
    assert ts == sorted(ts)


async def test_standard_zstd_reader_decompresses_the_file(tmp_path):
    d, frames = await _write(tmp_path, 200)
    (path,) = fmt.recording_files(d / "x")
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb"), read_across_frames=True) as r:
        raw = r.read()
    assert list(fmt.iter_records(raw))[1][3] == frames[0]
    assert len(list(fmt.iter_records(raw))) == 203


async def test_corrupted_block_is_reported_with_file_and_offset_and_reading_resumes(tmp_path):
    d, frames = await _write(tmp_path, 400)
    (path,) = fmt.recording_files(d / "x")
    data = bytearray(path.read_bytes())
    blocks = [i for i in range(len(data)) if data[i:i + 4] == b"\x5b\x2a\x4d\x18"]
    assert len(blocks) > 4
    victim = blocks[2]
    data[victim + fmt.SKIP_SIZE + 40] ^= 0xFF  # one flipped byte inside the third block's zstd frame
    path.write_bytes(bytes(data))
    recs, errors = _read_all([path])
    assert len(errors) == 1
    assert errors[0].file == str(path) and errors[0].offset == victim and "corrupted block" in errors[0].message
    assert str(path) in str(errors[0]) and f"byte {victim}" in str(errors[0])
    got = [r[3] for r in recs if r[0] == fmt.TEXT]
    assert got[0] == frames[0] and got[-1] == frames[-2]  # before and after the damage
    lost = len(frames) - 1 - len(got)
    assert 0 < lost < 100
    assert got == [f for f in frames[:-1] if f in set(got)]  # in order, nothing invented


async def test_truncated_file_is_reported_and_its_whole_records_are_kept(tmp_path):
    d, frames = await _write(tmp_path, 400)
    (path,) = fmt.recording_files(d / "x")
    data = path.read_bytes()
    cut = len(data) - 300
    path.write_bytes(data[:cut])
    recs, errors = _read_all([path])
    assert len(errors) == 1 and errors[0].file == str(path) and "truncated" in errors[0].message
    assert errors[0].offset < cut
    got = [r[3] for r in recs if r[0] == fmt.TEXT]
    assert got == frames[:len(got)] and len(got) > 300


def test_damaged_record_inside_a_block_is_skipped_to_the_next_record():
    recs = [fmt.pack_record(fmt.TEXT, 1_000 + i, 1, b"frame-%d" % i) for i in range(5)]
    block = bytearray(b"".join(recs))
    block[len(recs[0]) + fmt.HEADER_SIZE + 2] ^= 0x01  # payload of record 1
    errors: list[fmt.ReadError] = []
    got = list(fmt.iter_records(bytes(block), "f.rec.zst", 77, errors.append))
    assert [r[3] for r in got] == [b"frame-0", b"frame-2", b"frame-3", b"frame-4"]
    assert len(errors) == 1 and errors[0].record_offset == len(recs[0]) and "CRC" in errors[0].message
    assert "f.rec.zst at byte 77" in str(errors[0])


def test_bad_manifest_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="manifest.json: not valid JSON"):
        read_manifest(tmp_path)
