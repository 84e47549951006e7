"""Record the four emulated exchanges for 20 s (with a sequence gap and a dropped connection
injected, so the recording holds resyncs, REST re-snapshots and reconnects), replay at max speed
through the same feed classes, and the books equal those the live feeds held when the recording
ended; the CLI records and replays too."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from perpdex.app import exchange_settings, runtime
from perpdex.cli.main import app
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.recording.record import RecordingRun
from perpdex.recording.replay import open_replay
from perpdex.recording.writer import Recorder

SYMBOLS = ["BTC", "ETH"]


def _live_books(run: RecordingRun) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, client in run.clients.items():
        feed = client.feed
        out[name] = {}
        for sym in SYMBOLS:
            if feed.is_ready(sym):
                b = feed.book(sym)
                out[name][sym] = (b.sequence, b.bids(), b.asks())
            else:
                out[name][sym] = None
    return out


async def test_replayed_books_equal_the_live_books_at_the_same_frames(tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {n: {} for n in registry.names()},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg, with_clients=False) as rt:
        run = RecordingRun(Recorder(tmp_path / "rec"), SYMBOLS)
        try:
            for name in cfg.enabled_exchanges:
                await run.start(name, exchange_settings(cfg, name, rt.cluster))
            assert await run.wait_ready(10) == {}
            await asyncio.sleep(6)
            for venue in rt.cluster.sim.venues.values():
                venue.faults.inject("gap", symbol="BTC")
            await asyncio.sleep(6)
            for venue in rt.cluster.sim.venues.values():
                venue.faults.inject("drop")
            await asyncio.sleep(8)
            assert await run.wait_ready(10) == {}
            live = _live_books(run)  # no await between these two lines: the same frames
            run.recorder.stop_accepting()
            live_resyncs = {n: c.feed.resyncs for n, c in run.clients.items()}
            live_frames = {n: c.feed.frames_received for n, c in run.clients.items()}
        finally:
            manifest = await run.finish()

    for name, e in manifest["exchanges"].items():
        assert e["dropped"] == 0 and e["frames"] > 100 and e["bytes_on_disk"] > 0
        assert e["connections"] >= 2, f"{name}: the dropped connection was not recorded"

    rp = await open_replay(tmp_path / "rec")
    try:
        await asyncio.wait_for(rp.wait(), 30)
        summary = rp.summary()
        for name, x in rp.exchanges.items():
            s = summary[name]
            assert s["errors"] == [] and s["rest_unclaimed"] == 0
            assert s["frames"] == manifest["exchanges"][name]["frames"] <= live_frames[name]
            assert s["connections"] == manifest["exchanges"][name]["connections"]
            assert s["resyncs"] == live_resyncs[name], name  # the gaps the live feed saw, no other
            for sym in SYMBOLS:
                want = live[name][sym]
                assert want is not None
                book = x.client.feed.book(sym)
                assert (book.sequence, book.bids(), book.asks()) == want, f"{name} {sym}"
        assert sum(live_resyncs[n] for n in ("lighter", "backpack", "paradex")) >= 3  # gaps were in the recording
    finally:
        await rp.close()


def test_cli_record_then_replay_json(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"sim: {{enabled: true}}\nexchanges: {{lighter: {{}}, aster: {{}}}}\n"
                   f"storage: {{url: 'sqlite+aiosqlite:///{tmp_path / 'x.db'}'}}\n")
    runner = CliRunner()
    res = runner.invoke(app, ["record", "-c", str(cfg), "-s", "BTC", "--out", str(tmp_path / "r"), "-d", "2"])
    assert res.exit_code == 0, res.output
    assert "bytes/frame" in res.output and "lighter" in res.output
    res = runner.invoke(app, ["replay", str(tmp_path / "r"), "--json", "-n", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for name in ("lighter", "aster"):
        b = doc["books"][name]["BTC"]
        assert b["ready"] and len(b["bids"]) == 3 and b["bids"][0][0] < b["asks"][0][0]
        assert doc["summary"][name]["frames"] > 0 and doc["summary"][name]["errors"] == []
    res = runner.invoke(app, ["record", "-c", str(cfg), "-s", "BTC", "--out", str(tmp_path / "r"), "-d", "1"])
    assert res.exit_code == 2 and "already" in res.output  # a recording is never overwritten
    res = runner.invoke(app, ["replay", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a perpdex recording" in " ".join(res.output.split())
