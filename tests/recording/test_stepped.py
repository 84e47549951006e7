"""A stepped replay (``open_replay(..., stepped=True)`` + ``Replay.advance_to``) shows the books
as the live feeds held them at a given time: the live books are read twice during a recording
(with the time, no await in between), and the stepped replay advanced to each time has the same
books."""

from __future__ import annotations

import asyncio
import time

import pytest

from perpdex.app import exchange_settings, runtime
from perpdex.config import parse_config
from perpdex.recording.record import RecordingRun
from perpdex.recording.replay import open_replay
from perpdex.recording.writer import Recorder

EXCHANGES = ["lighter", "aster"]
SYMBOLS = ["BTC", "ETH"]


def _books(clients) -> dict:
    out = {}
    for name, c in clients.items():
        for sym in SYMBOLS:
            b = c.feed.book(sym)
            out[(name, sym)] = (b.bids(10), b.asks(10))
    return out


async def test_advance_to_gives_the_books_the_live_feeds_had_then(tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {n: {} for n in EXCHANGES},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    snaps = []
    async with runtime(cfg, with_clients=False) as rt:
        run = RecordingRun(Recorder(tmp_path / "rec"), SYMBOLS, funding=False)
        try:
            for name in EXCHANGES:
                await run.start(name, exchange_settings(cfg, name, rt.cluster))
            assert await run.wait_ready(15) == {}
            for _ in range(2):
                await asyncio.sleep(1.5)
                snaps.append((time.time_ns(), _books(run.clients)))  # no await: the books at that time
            await asyncio.sleep(1.0)
        finally:
            await run.finish()

    rp = await open_replay(tmp_path / "rec", stepped=True)
    try:
        for ts, want in snaps:
            await asyncio.wait_for(rp.advance_to(ts), 30)
            got = {(n, s): (x.client.feed.book(s).bids(10), x.client.feed.book(s).asks(10))
                   for n, x in rp.exchanges.items() for s in SYMBOLS}
            assert got == want
        assert not rp.done  # records after the last time are still held back
        with pytest.raises(RuntimeError):
            plain = await open_replay(tmp_path / "rec")
            try:
                await plain.advance_to(snaps[0][0])
            finally:
                await plain.close()
    finally:
        await rp.close()
