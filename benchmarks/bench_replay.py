"""Benchmark: recording and replaying market-data frames (perpdex record / replay).

Frames are the seeded wire-format frames of ``bench_feeds.py`` (Lighter ``update/order_book``
deltas on a 200-level book, Aster ``depth20@100ms`` combined-stream snapshots).

* **record**: the frames pushed through a :class:`~perpdex.recording.writer.Channel` on the event
  loop as fast as the writer thread keeps up (the loop yields every 1,000 frames, as a socket
  read loop would, and waits while more than 8 MB are queued), the writer packing, compressing
  and writing them; reports the loop-side cost per frame (what
  the tap adds to the live hot path), sustained frames/s until every frame is on disk, frames
  dropped (must be 0) and bytes per frame on disk (zstd level 3).
* **replay**: the recording played at max speed through the replay transport into the real feed
  (``LighterMarketFeed`` / ``AsterMarketFeed`` over :class:`~perpdex.recording.transport.ReplaySession`:
  ``ws_connect``, ``async for``, ``ws_payloads``, ``handle_frame``), frames/s end to end (best of
  ``--repeat``); beside it the two parts alone: reading the files (decompression + record
  parsing + CRC) and ``handle_frame`` on the same frames in a plain loop.

Run: ``.venv/bin/python benchmarks/bench_replay.py [--frames N] [--repeat R]``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feeds import aster_feed, aster_frames, lighter_feed, lighter_frames  # noqa: E402

from perpdex.recording import format as fmt  # noqa: E402
from perpdex.recording.transport import ReplayClock, ReplayCursor, ReplaySession  # noqa: E402
from perpdex.recording.writer import Recorder  # noqa: E402

SYMBOL = {"lighter": "ETH", "aster": "BTC"}


async def record(directory: Path, exchange: str, frames: list[bytes]) -> dict[str, Any]:
    texts = [f.decode() for f in frames]  # aiohttp hands text frames over as str
    rec = Recorder(directory)
    ch = rec.channel(exchange, symbols=[SYMBOL[exchange]])
    conn = ch.open("ws://127.0.0.1:9/stream")
    gc.collect()
    t0 = time.perf_counter()
    loop_s = 0.0
    for i in range(0, len(texts), 1000):
        t1 = time.perf_counter()
        for t in texts[i:i + 1000]:
            ch.frame(conn, t)
        loop_s += time.perf_counter() - t1
        await asyncio.sleep(0)
        while ch.queued_bytes - ch.done_bytes > 8 << 20:  # a source no faster than the writer: its sustained rate
            await asyncio.sleep(0.001)
    manifest = await rec.close()
    total = time.perf_counter() - t0
    e = manifest["exchanges"][exchange]
    return {"frames": len(frames), "dropped": e["dropped"], "loop_us": loop_s / len(frames) * 1e6,
            "sustained_fps": len(frames) / total, "bytes_per_frame": e["bytes_on_disk"] / len(frames),
            "raw_bytes_per_frame": sum(len(f) for f in frames) / len(frames),
            "ratio": e["bytes_raw"] / max(e["bytes_on_disk"], 1)}


async def replay_once(files: list[Path], make_feed: Callable[[], Any], symbol: str) -> tuple[float, int]:
    cursor = ReplayCursor(files, ReplayClock(0, None))
    feed = make_feed()
    feed._states.clear()  # the benchmark feeds come subscribed in memory; here prepare() subscribes
    feed.use_session(ReplaySession(cursor))
    feed.stale_after = float("inf")
    t0 = time.perf_counter()
    await feed.prepare(symbol)
    await cursor.done.wait()
    elapsed = time.perf_counter() - t0
    assert feed.is_ready(symbol)
    frames = cursor.frames
    await feed.close()
    return elapsed, frames


def read_only(files: list[Path]) -> float:
    t0 = time.perf_counter()
    n = sum(1 for f in files for _ in fmt.read_file(f))
    assert n
    return time.perf_counter() - t0


def feed_only(make_feed: Callable[[], Any], frames: list[bytes]) -> float:
    feed = make_feed()
    handle = feed.handle_frame
    t0 = time.perf_counter()
    for f in frames:
        handle(f)
    return time.perf_counter() - t0


async def run(n: int, repeat: int) -> dict[str, dict[str, Any]]:
    snap, deltas = lighter_frames(n - 1)
    sets = {"lighter": ([snap] + deltas, lighter_feed), "aster": (aster_frames(n), aster_feed)}
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (frames, make_feed) in sets.items():
            res = await record(Path(tmp) / name, name, frames)
            files = fmt.recording_files(Path(tmp) / name / name)
            best = min([await replay_once(files, make_feed, SYMBOL[name]) for _ in range(repeat)])
            assert best[1] == len(frames), (best, len(frames))
            res["replay_fps"] = len(frames) / best[0]
            res["replay_us"] = best[0] / len(frames) * 1e6
            res["read_us"] = min(read_only(files) for _ in range(repeat)) / len(frames) * 1e6
            res["feed_us"] = min(feed_only(make_feed, frames) for _ in range(repeat)) / len(frames) * 1e6
            out[name] = res
    return out


def report(res: dict[str, dict[str, Any]], n: int, repeat: int) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {n} frames per feed, best of {repeat}")
    print(f"{'feed':8} {'replay fps':>11} {'replay us':>10} {'read us':>8} {'feed us':>8} | {'record fps':>11} "
          f"{'tap us':>7} {'dropped':>7} {'B/frame':>8} {'raw B':>6} {'ratio':>6}")
    for name, r in res.items():
        print(f"{name:8} {r['replay_fps']:>11,.0f} {r['replay_us']:>10.2f} {r['read_us']:>8.2f} {r['feed_us']:>8.2f} | "
              f"{r['sustained_fps']:>11,.0f} {r['loop_us']:>7.2f} {r['dropped']:>7} {r['bytes_per_frame']:>8.1f} "
              f"{r['raw_bytes_per_frame']:>6.0f} {r['ratio']:>6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    report(asyncio.run(run(args.frames, args.repeat)), args.frames, args.repeat)


if __name__ == "__main__":
    main()
