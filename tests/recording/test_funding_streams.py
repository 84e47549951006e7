"""The public funding streams (Aster ``markPrice``, Lighter ``market_stats``, Backpack ``markPrice``,
Paradex ``funding_data``) are recorded next to the books, decoded on replay by the same feed
code, and give the rates the REST funding adapters report for the same moment.

BTC's rate is pinned on every venue (so "the same moment" is exact); ETH's moves with the
emulator's funding process (seed fixed), so there the stream and a REST read made right after
agree within what the process moves in that time."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from typer.testing import CliRunner

from perpdex.app import exchange_settings, runtime
from perpdex.cli.main import app
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.recording.record import RecordingRun
from perpdex.recording.replay import open_replay
from perpdex.recording.writer import Recorder

SYMBOLS = ["BTC", "ETH"]
#: pinned BTC rate per venue, fraction per the market's interval (Lighter's 4-decimal percent
#: per hour quote represents it exactly)
PINNED = {"aster": 0.00031, "lighter": -0.000042, "backpack": 0.000125, "paradex": -0.00052}


async def _wait_for(cond, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if cond():
            return True
        await asyncio.sleep(0.1)
    return cond()


async def test_recorded_funding_streams_replay_to_the_rest_rates(tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {n: {} for n in registry.names()},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg, with_clients=False) as rt:
        for name, venue in rt.cluster.sim.venues.items():
            venue.set_funding_rate("BTC", PINNED[name])
        run = RecordingRun(Recorder(tmp_path / "rec"), SYMBOLS)  # funding streams on by default
        adapters = {}
        try:
            for name in cfg.enabled_exchanges:
                settings = exchange_settings(cfg, name, rt.cluster)
                await run.start(name, settings)
                adapters[name] = registry.funding_class(name)(settings)
            assert await run.wait_ready(15) == {}

            def pinned_seen() -> bool:
                for name, c in run.clients.items():
                    got = c.feed.funding_samples()
                    if set(got) != set(SYMBOLS) or float(got["BTC"].raw_rate) != PINNED[name]:
                        return False
                return True

            assert await _wait_for(pinned_seen, 20), {n: c.feed.funding_samples() for n, c in run.clients.items()}
            await asyncio.sleep(1.5)  # a few more funding frames after the pinned ones
            live = {n: c.feed.funding_samples() for n, c in run.clients.items()}
            run.recorder.stop_accepting()  # no await before: the recording ends at these frames
            rest = {n: await a.fetch_funding_rates() for n, a in adapters.items()}
        finally:
            manifest = await run.finish()
            for a in adapters.values():
                await a.close()

    for e in manifest["exchanges"].values():
        assert e["options"]["funding_stream"] is True and e["dropped"] == 0

    rp = await open_replay(tmp_path / "rec")
    try:
        await asyncio.wait_for(rp.wait(), 30)
        summary = rp.summary()
        replayed = {n: x.client.feed.funding_samples() for n, x in rp.exchanges.items()}
        doc = rp.funding()
    finally:
        await rp.close()

    for name in registry.names():
        assert summary[name]["errors"] == [] and summary[name]["funding_frames"] >= 2, (name, summary[name])
        for sym in SYMBOLS:
            got, want, r = replayed[name][sym], live[name][sym], rest[name][sym]
            assert got == want, f"{name} {sym}: replay decoded {got}, live {want}"  # the same frames
            assert got.exchange == name and got.symbol == sym and "stream" in got.metadata["source"]
            assert got.interval_hours == r.interval_hours, (name, sym)
            assert got.normalized_rate == got.raw_rate * 8 / got.interval_hours
            if got.mark_price is not None:  # Paradex's funding_data carries no mark
                assert abs(got.mark_price - r.mark_price) <= r.mark_price * Decimal("0.02"), (name, sym)
            if sym == "BTC":
                assert got.raw_rate == r.raw_rate == Decimal(str(PINNED[name])), (name, got.raw_rate, r.raw_rate)
                assert got.normalized_rate == r.normalized_rate
            else:  # the process moved between the last frame and the REST read: a few seconds of it
                assert abs(got.raw_rate - r.raw_rate) <= max(abs(r.raw_rate) * Decimal("0.05"), Decimal("2e-6")), (
                    name, got.raw_rate, r.raw_rate)
            if name in ("aster", "backpack"):  # a settlement schedule (Paradex: continuous)
                assert got.next_funding_time is not None
            j = doc[name][sym]
            assert Decimal(str(j["rate"])) == got.raw_rate and Decimal(str(j["rate_8h"])) == got.normalized_rate


def test_cli_replay_prints_funding_and_no_funding_records_none(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"sim: {{enabled: true}}\nexchanges: {{backpack: {{}}, lighter: {{}}}}\n"
                   f"storage: {{url: 'sqlite+aiosqlite:///{tmp_path / 'x.db'}'}}\n")
    runner = CliRunner()
    res = runner.invoke(app, ["record", "-c", str(cfg), "-s", "BTC", "--out", str(tmp_path / "r"), "-d", "3"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["replay", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for name in ("backpack", "lighter"):
        f = doc["funding"][name]["BTC"]
        assert float(f["interval_hours"]) > 0 and "stream" in f["source"]
        assert doc["summary"][name]["funding_frames"] >= 1
    res = runner.invoke(app, ["replay", str(tmp_path / "r")])
    assert res.exit_code == 0 and "funding at the end of the recording" in res.output

    res = runner.invoke(app, ["record", "-c", str(cfg), "-s", "BTC", "--out", str(tmp_path / "n"), "-d", "2",
                              "--no-funding"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["replay", str(tmp_path / "n"), "--json"])
    doc = json.loads(res.output)
    assert doc["funding"] == {"backpack": {}, "lighter": {}}
    assert all(s["funding_frames"] == 0 for s in doc["summary"].values())
