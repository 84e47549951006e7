"""Writing a recording without slowing the live feeds: the event loop only appends to a bounded
queue; one writer thread packs, compresses and writes (zstd releases the GIL while compressing).

* :class:`Recorder` owns the directory, the writer thread and the manifest;
* :meth:`Recorder.channel` gives each exchange a :class:`Channel` (its own files, its own
  connection ids) whose ``frame`` / ``rest`` / ``open`` / ``close`` are what the tap calls.

Memory is bounded: when the bytes queued but not yet written exceed ``max_pending_bytes`` a frame
is dropped and counted (``Channel.dropped``), never blocking the loop. Files rotate when their
compressed size reaches ``max_file_bytes`` or their age ``max_file_age_s``; a partial block is
flushed every ``flush_interval_s`` so a crash loses at most that much.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..files import open_private, private_dir, write_private_text
from . import format as fmt

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_NAME = "perpdex-recording"
FORMAT_VERSION = 1


class Channel:
    """One exchange's record stream. ``frame`` / ``rest`` / ``open`` / ``close`` are called on
    the event loop (cheap: a tuple appended to a deque); the writer thread does the rest.
    Counters: ``frames`` queued, ``dropped`` frames (queue full), ``rest`` responses, and, from
    the writer, ``records_written``, ``bytes_raw`` (uncompressed record bytes), ``bytes_written``
    (compressed, on disk), ``files``."""

    def __init__(self, recorder: Recorder, exchange: str) -> None:
        self.exchange = exchange
        self._rec = recorder
        self._queue: deque[tuple[int, int, int, Any]] = deque()
        self._next_conn = 1
        self.frames = 0
        self.dropped = 0
        self.rest = 0
        self.connections = 0
        self.queued_bytes = 0  # written by the loop only
        self.done_bytes = 0  # written by the writer thread only
        self.records_written = 0
        self.bytes_raw = 0
        self.bytes_written = 0
        self.files: list[str] = []
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.accepting = True
        self._dir = recorder.directory / exchange
        private_dir(self._dir)
        self._fh: Any = None
        self._file_bytes = 0
        self._file_opened = 0.0
        self._block: list[bytes] = []
        self._block_bytes = 0
        self._cctx = fmt.new_compressor(recorder.level)

    # -- called on the event loop ------------------------------------------------------------------
    def open(self, url: str) -> int:
        """A new WebSocket connection to ``url``: its connection id."""
        conn = self._next_conn
        self._next_conn += 1
        self.connections += 1
        self._put(fmt.OPEN, conn, json.dumps({"url": url}).encode())
        return conn

    def close(self, conn: int) -> None:
        self._put(fmt.CLOSE, conn, b"")

    def frame(self, conn: int, data: str | bytes) -> None:
        """A WebSocket message as received (``str`` for text, ``bytes`` for binary); dropped and
        counted when the queue is over its byte bound."""
        if not self.accepting:
            return
        self.frames += 1
        if self.queued_bytes - self.done_bytes > self._rec.max_pending_bytes:
            self.dropped += 1
            return
        self._put(fmt.TEXT if type(data) is str else fmt.BINARY, conn, data)

    def rest_response(self, method: str, url: str, params: dict[str, Any] | None, status: int, body: bytes) -> None:
        """A REST response the feed or client read (never dropped: they are few)."""
        self.rest += 1
        self._put(fmt.REST, 0, fmt.rest_payload(method, url, params, status, body))

    def _put(self, kind: int, conn: int, payload: Any) -> None:
        if not self.accepting:
            return
        self.queued_bytes += len(payload) + fmt.HEADER_SIZE
        self._queue.append((kind, time.time_ns(), conn, payload))

    # -- called on the writer thread -------------------------------------------------------------------
    def _drain(self, limit: int = 4096) -> int:
        q = self._queue
        n = 0
        pack = fmt.pack_record
        while q and n < limit:
            kind, ts, conn, payload = q.popleft()
            if kind == fmt.TEXT:
                payload = payload.encode()
            rec = pack(kind, ts, conn, payload)
            self._block.append(rec)
            self._block_bytes += len(rec)
            self.done_bytes += len(payload) + fmt.HEADER_SIZE
            if self.first_ns is None:
                self.first_ns = ts
            self.last_ns = ts
            n += 1
            if self._block_bytes >= self._rec.block_bytes:
                self._write_block()
        self.records_written += n
        return n

    def _write_block(self) -> None:
        if not self._block:
            return
        raw = b"".join(self._block)
        self._block.clear()
        self._block_bytes = 0
        if self._fh is None or self._file_bytes >= self._rec.max_file_bytes or (
                time.monotonic() - self._file_opened >= self._rec.max_file_age_s):
            self._rotate()
        out = fmt.compress_block(raw, self._cctx)
        self._fh.write(out)
        self._fh.flush()
        self._file_bytes += len(out)
        self.bytes_written += len(out)
        self.bytes_raw += len(raw)

    def _rotate(self) -> None:
        self._close_file()
        name = f"{len(self.files):05d}{fmt.FILE_SUFFIX}"
        self._fh = open_private(self._dir / name, "wb")  # 0600; closed on rotation / close
        self._file_bytes = 0
        self._file_opened = time.monotonic()
        self.files.append(f"{self.exchange}/{name}")
        self._rec._manifest_dirty = True

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def summary(self) -> dict[str, Any]:
        """Counters for the manifest and the final report (bytes per frame on disk included)."""
        return {"files": list(self.files), "connections": self.connections, "frames": self.frames,
                "dropped": self.dropped, "rest": self.rest, "records": self.records_written,
                "bytes_raw": self.bytes_raw, "bytes_on_disk": self.bytes_written,
                "bytes_per_frame": round(self.bytes_written / self.records_written, 1) if self.records_written else None,
                "first_ns": self.first_ns, "last_ns": self.last_ns}


class Recorder:
    """A recording in ``directory`` (created): per exchange a :class:`Channel`, one writer thread,
    a ``manifest.json`` (format, versions, exchanges with their settings and symbols, start / end,
    files and counters) rewritten on every rotation and at :meth:`close`.

    ``max_file_bytes`` (compressed) and ``max_file_age_s`` rotate files; ``block_bytes`` is the
    uncompressed size of one zstd block; ``max_pending_bytes`` bounds the queued data;
    ``level`` is the zstd level (3: about 200 MB/s per core)."""

    def __init__(self, directory: str | Path, *, max_file_bytes: int = 256 << 20, max_file_age_s: float = 3600.0,
                 block_bytes: int = 256 << 10, max_pending_bytes: int = 64 << 20, flush_interval_s: float = 0.5,
                 level: int = 3, meta: dict[str, Any] | None = None) -> None:
        self.directory = Path(directory)
        private_dir(self.directory)
        self.max_file_bytes = max_file_bytes
        self.max_file_age_s = max_file_age_s
        self.block_bytes = block_bytes
        self.max_pending_bytes = max_pending_bytes
        self.flush_interval_s = flush_interval_s
        self.level = level
        self.meta: dict[str, Any] = dict(meta or {})
        self.exchange_meta: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.started_ns = time.time_ns()
        self.ended_ns: int | None = None
        self._wake = threading.Event()
        self._stop = False
        self._manifest_dirty = True
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="perpdex-recorder", daemon=True)
        self._thread.start()

    def channel(self, exchange: str, **meta: Any) -> Channel:
        """The channel of ``exchange`` (created on first use); ``meta`` (URLs, options, symbols) is
        kept in the manifest for the replay."""
        with self._lock:
            ch = self.channels.get(exchange)
            if ch is None:
                ch = self.channels[exchange] = Channel(self, exchange)
            self.exchange_meta.setdefault(exchange, {}).update(meta)
            self._manifest_dirty = True
        return ch

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            self._wake.wait(0.05)
            self._wake.clear()
            stop = self._stop
            with self._lock:
                channels = list(self.channels.values())
            busy = True
            while busy:
                busy = False
                for ch in channels:
                    if ch._drain():
                        busy = True
                time.sleep(0)  # let the event loop run between batches
            if stop or time.monotonic() - last_flush >= self.flush_interval_s:
                for ch in channels:
                    ch._write_block()
                last_flush = time.monotonic()
            if self._manifest_dirty:
                self._write_manifest()
            if stop:
                for ch in channels:
                    ch._close_file()
                if self.ended_ns is None:
                    self.ended_ns = time.time_ns()
                self._write_manifest()
                return

    def _write_manifest(self) -> None:
        self._manifest_dirty = False
        from .. import __version__

        with self._lock:
            exchanges = {name: {**self.exchange_meta.get(name, {}), **ch.summary()} for name, ch in self.channels.items()}
        doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "perpdex_version": __version__,
               "compression": "zstd", "record_header": "magic u16, kind u8, flags u8, length u32, ts_ns u64, "
               "conn u32, crc32 u32 (little-endian)", "started_ns": self.started_ns, "ended_ns": self.ended_ns,
               **self.meta, "exchanges": exchanges}
        tmp = self.directory / (MANIFEST + ".tmp")
        write_private_text(tmp, json.dumps(doc, indent=2))
        tmp.replace(self.directory / MANIFEST)

    def stop_accepting(self) -> None:
        """End the recording at this instant: nothing received from now on is recorded (the
        books the feeds hold now are the ones a replay of the recording rebuilds)."""
        for ch in self.channels.values():
            ch.accepting = False
        self.ended_ns = time.time_ns()

    async def close(self) -> dict[str, Any]:
        """Write what is queued, close the files, write the final manifest; returns it."""
        import asyncio

        self._stop = True
        self._wake.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        return read_manifest(self.directory)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per exchange: frames, dropped, pending bytes, bytes on disk (for a progress line)."""
        return {n: {"frames": ch.frames, "dropped": ch.dropped, "pending_bytes": ch.queued_bytes - ch.done_bytes,
                    "bytes_on_disk": ch.bytes_written} for n, ch in self.channels.items()}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a recording; raises FileNotFoundError / ValueError naming the file."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (not a perpdex recording directory?)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if doc.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a {FORMAT_NAME} manifest")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: format version {doc['format_version']} is newer than this perpdex reads "
                         f"({FORMAT_VERSION})")
    return doc
