"""The replay transport (``recording/transport.py``) under the real Lighter feed: a damaged block
loses frames, the feed's own nonce-chain rule detects the gap exactly as it does on frames fed
directly, and the replay goes on (the next recorded snapshot makes the book ready again). Also
pacing (``speed``) and REST answers handed over at their place in the record stream."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from perpdex.exchanges.lighter.feed import LighterMarketFeed
from perpdex.exchanges.lighter.symbols import LighterSymbols
from perpdex.recording import format as fmt
from perpdex.recording.transport import ReplayClock, ReplayCursor, ReplaySession
from perpdex.recording.writer import Recorder
from tests.test_feed_hot_path import lighter_frame


def _feed() -> LighterMarketFeed:
    cat = LighterSymbols()
    cat.add("ETH", 0)
    return LighterMarketFeed("ws://127.0.0.1:9/stream", catalog=cat, stale_after=1e9)


def _frames(n: int, seed: int = 9) -> list[bytes]:
    """A snapshot, ``n`` chained deltas, a second snapshot (as after a resubscribe), 50 deltas."""
    rng = random.Random(seed)
    snap = [(f"{3000 - k * 0.01:.2f}", "1.0000") for k in range(1, 40)], [(f"{3000 + k * 0.01:.2f}", "1.0000") for k in range(1, 40)]
    out = [lighter_frame("subscribed/order_book", *snap, 1000, 990)]
    nonce = 1000
    for i in range(n + 51):
        if i == n:
            out.append(lighter_frame("subscribed/order_book", *snap, nonce + 500, nonce + 400))
            nonce += 500
            continue
        side = rng.choice((0, 1))
        lv = [(f"{3000 + (1 if side else -1) * rng.randint(1, 45) * 0.01:.2f}", f"{rng.uniform(0, 3):.4f}")]
        out.append(lighter_frame("update/order_book", lv if side == 0 else [], lv if side == 1 else [], nonce + 3, nonce))
        nonce += 3
    return out


async def _record(tmp_path, frames: list[bytes]):
    rec = Recorder(tmp_path / "rec", block_bytes=2048)
    ch = rec.channel("lighter")
    conn = ch.open("ws://127.0.0.1:9/stream")
    for f in frames:
        ch.frame(conn, f.decode())
    await rec.close()
    return fmt.recording_files(tmp_path / "rec" / "lighter")


async def _replay(files, speed=None) -> tuple[LighterMarketFeed, ReplayCursor]:
    cursor = ReplayCursor(files, ReplayClock(0, speed) if speed is None else ReplayClock(_first_ts(files), speed))
    feed = _feed()
    feed.use_session(ReplaySession(cursor))
    await feed.prepare("ETH")
    await asyncio.wait_for(cursor.done.wait(), 10)
    await asyncio.sleep(0)
    return feed, cursor


def _first_ts(files) -> int:
    return next(iter(fmt.read_file(files[0])))[1]


async def test_lost_frames_are_a_gap_the_live_rule_detects_and_the_replay_goes_on(tmp_path):
    frames = _frames(600)
    files = await _record(tmp_path, frames)
    data = bytearray(files[0].read_bytes())
    blocks = [i for i in range(len(data)) if data[i:i + 4] == b"\x5b\x2a\x4d\x18"]
    data[blocks[3] + fmt.SKIP_SIZE + 30] ^= 0x55  # damage a block in the delta run
    files[0].write_bytes(bytes(data))

    feed, cursor = await _replay(files)
    assert len(cursor.errors) == 1 and cursor.errors[0].file == str(files[0]) and cursor.errors[0].offset == blocks[3]
    assert 0 < cursor.frames < len(frames)

    # the same surviving frames fed straight into a feed: the same gap, the same book
    survivors = [r[3] for r in fmt.read_file(files[0], lambda e: None) if r[0] == fmt.TEXT]
    assert len(survivors) == cursor.frames
    direct = _feed()
    direct.state("ETH")
    for f in survivors:
        direct.handle_frame(f)
    await asyncio.sleep(0)
    assert feed.resyncs == direct.resyncs == 1  # "nonce gap" once, then the next snapshot
    assert feed.is_ready("ETH") and direct.is_ready("ETH")
    assert feed.book("ETH").bids() == direct.book("ETH").bids() and feed.book("ETH").asks() == direct.book("ETH").asks()
    assert feed.book("ETH").sequence == direct.book("ETH").sequence
    await feed.close()


async def test_undamaged_replay_equals_direct_feeding_without_resync(tmp_path):
    frames = _frames(300)
    feed, cursor = await _replay(await _record(tmp_path, frames))
    direct = _feed()
    direct.state("ETH")
    for f in frames:
        direct.handle_frame(f)
    assert cursor.frames == len(frames) and not cursor.errors and feed.resyncs == 0
    assert feed.book("ETH").bids() == direct.book("ETH").bids() and feed.book("ETH").sequence == direct.book("ETH").sequence
    await feed.close()


async def test_speed_paces_frames_on_their_receive_times(tmp_path):
    rec = Recorder(tmp_path / "rec")
    ch = rec.channel("lighter")
    conn = ch.open("ws://127.0.0.1:9/stream")
    frames = _frames(5)[:8]
    for f in frames:
        ch.frame(conn, f.decode())
        await asyncio.sleep(0.04)  # about 0.3 s of recorded time
    await rec.close()
    files = fmt.recording_files(tmp_path / "rec" / "lighter")
    recs = list(fmt.read_file(files[0]))
    span = (recs[-1][1] - recs[0][1]) / 1e9
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    feed, cursor = await _replay(files, speed=2.0)
    elapsed = loop.time() - t0
    assert cursor.frames == len(frames)
    assert elapsed >= span / 2 * 0.9  # never ahead of the recorded pace
    await feed.close()


async def test_rest_answer_is_served_to_its_request_and_a_missing_one_is_a_connection_error(tmp_path):
    rec = Recorder(tmp_path / "rec")
    ch = rec.channel("lighter")
    ch.rest_response("GET", "http://h/api/v1/orderBookDetails", None, 200, b'{"code":200}')
    await rec.close()
    cursor = ReplayCursor(fmt.recording_files(tmp_path / "rec" / "lighter"), ReplayClock(0, None))
    session = ReplaySession(cursor)
    async with session.get("http://h/api/v1/orderBookDetails") as resp:
        assert resp.status == 200 and await resp.read() == b'{"code":200}'
    with pytest.raises(aiohttp.ClientConnectionError, match="not in the recording"):
        async with session.get("http://h/api/v1/orderBookDetails"):
            pass
