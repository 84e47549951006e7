"""Backtest slippage from recorded depth: a short emulator recording (aster, lighter) prices the
fills it covers by walking its books; the fills it does not cover pay the model's bp. The figure
is computed here by hand from the books a plain replay of the same recording ends with.

History (hand-built, as tests/backtest/test_hand_computed.py, shifted to T0 = the first whole
hour after the recording ends): ETH opens long aster / short lighter at T0 and closes at T0 + 8 h
(spread flipped). T0 is within ``depth_max_age_s`` (1 h) of the recording's last message, so both
entry fills use the recorded books as they were at T0 (the last state: the nearest earlier one);
T0 + 8 h is not covered, so both exit fills pay ``slippage_bps``."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from typer.testing import CliRunner

from perpdex.app import exchange_settings, runtime
from perpdex.backtest.engine import BacktestSettings
from perpdex.backtest.runner import backtest
from perpdex.cli.main import app
from perpdex.config import parse_config
from perpdex.funding.settled import SettledFunding, SettledFundingStore
from perpdex.recording.record import RecordingRun
from perpdex.recording.replay import open_replay
from perpdex.recording.writer import Recorder
from perpdex.storage import Store

D = Decimal
SIZE = 1_000_000  # USD per leg: several levels of the emulator's deep ETH books


def history(t0: datetime) -> list[SettledFunding]:
    def at(h: int) -> datetime:
        return t0 + timedelta(hours=h)

    out = []
    for h, eth in ((0, "-0.0002"), (4, "-0.0002"), (8, "0.0006")):
        out.append(SettledFunding("aster", "ETH", at(h), D(eth), D(4), source="hand"))
    for h in range(12):
        out.append(SettledFunding("lighter", "ETH", at(h), D("0.0001") if h <= 8 else D("0.00015"), D(1), source="hand"))
    return out


async def _record(tmp_path) -> dict:
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {"aster": {}, "lighter": {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"}})
    async with runtime(cfg, with_clients=False) as rt:
        run = RecordingRun(Recorder(tmp_path / "rec"), ["ETH"], funding=False)
        try:
            for name in cfg.enabled_exchanges:
                await run.start(name, exchange_settings(cfg, name, rt.cluster))
            assert await run.wait_ready(15) == {}
            await asyncio.sleep(3)
        finally:
            manifest = await run.finish()
    return manifest


async def _final_books(directory) -> dict:
    rp = await open_replay(directory)
    try:
        await asyncio.wait_for(rp.wait(), 30)
        return rp.books()
    finally:
        await rp.close()


def _hand_cost(book: dict, buy: bool, notional: D) -> tuple[D, int]:
    """Slippage of ``notional`` USD against ``book`` (levels [price, size] floats), by hand:
    quantity = notional / mid, walked level by level; cost = notional x |vwap - mid| / mid."""
    bids = [(D(repr(p)), D(repr(s))) for p, s in book["bids"]]
    asks = [(D(repr(p)), D(repr(s))) for p, s in book["asks"]]
    mid = (bids[0][0] + asks[0][0]) / 2
    left = notional / mid
    paid, used = D(0), 0
    for price, size in asks if buy else bids:
        if left <= 0:
            break
        q = min(left, size)
        paid += q * price
        left -= q
        used += 1
    assert left <= 0, "the recorded book is too thin for the test's size"
    vwap = paid / (notional / mid)
    return notional * ((vwap - mid) if buy else (mid - vwap)) / mid, used


def test_recorded_depth_prices_the_covered_fills(tmp_path):
    manifest = asyncio.run(_record(tmp_path))
    end_s = max(e["last_ns"] for e in manifest["exchanges"].values()) / 1e9
    t0 = datetime.fromtimestamp(math.floor(end_s / 3600) * 3600 + 3600, UTC)  # < 1 h after the end
    books = asyncio.run(_final_books(tmp_path / "rec"))
    long_cost, long_levels = _hand_cost(books["aster"]["ETH"], True, D(SIZE))  # long aster buys
    short_cost, short_levels = _hand_cost(books["lighter"]["ETH"], False, D(SIZE))  # short lighter sells
    assert long_levels >= 2 or short_levels >= 2  # the size walks the book, not just the touch
    model = D("0.0001") * SIZE  # 1 bp per model fill

    cfg = parse_config({
        "exchanges": {"aster": {"taker_fee": "0.0004"}, "lighter": {"taker_fee": "0.0002"}},
        "strategy": {"size_usd": SIZE, "leverage": 2, "max_positions": 1, "min_net_apr": 0.1, "hold_hours": 168,
                     "reentry_cooldown_s": 3600, "exit": {"min_spread_apr": 0.05}},
        "backtest": {"slippage_bps": 1},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bt.db'}"},
    })

    async def run(recording):
        store = Store(cfg.storage.url)
        await store.init()
        try:
            if recording is None:
                await SettledFundingStore(store.sessions).add(history(t0))
            return await backtest(store, cfg.strategy, BacktestSettings.from_config(cfg), t0, t0 + timedelta(hours=12),
                                  cfg.enabled_exchanges, recording=recording)
        finally:
            await store.close()

    plain = asyncio.run(run(None))
    result = asyncio.run(run(tmp_path / "rec"))
    [p0] = plain.positions
    [pos] = result.positions
    assert (pos.symbol, pos.long_exchange, pos.short_exchange) == ("ETH", "aster", "lighter")
    assert pos.opened_at == t0 and pos.closed_at == t0 + timedelta(hours=8)
    assert p0.slippage == 4 * model and p0.depth_fills == 0 and p0.model_fills == 4
    assert (pos.depth_fills, pos.model_fills, pos.depth_exhausted) == (2, 2, 0)
    assert pos.slippage == long_cost + short_cost + 2 * model
    assert pos.net == p0.net + 2 * model - long_cost - short_cost
    assert pos.funding == p0.funding and pos.fees == p0.fees
    assert result.totals["slippage_source"] == {"recorded_depth": 2, "model": 2, "depth_exhausted": 0}
    # the entry costs land on the equity curve at the entry hour
    assert result.equity[0] == plain.equity[0] + model * 2 - long_cost - short_cost

    # the CLI: --recording, the totals line and the JSON report
    cfg_file = tmp_path / "bt.yml"
    cfg_file.write_text(json.dumps({
        "exchanges": {"aster": {"taker_fee": "0.0004"}, "lighter": {"taker_fee": "0.0002"}},
        "strategy": {"size_usd": SIZE, "leverage": 2, "max_positions": 1, "min_net_apr": 0.1, "hold_hours": 168,
                     "reentry_cooldown_s": 3600, "exit": {"min_spread_apr": 0.05}},
        "backtest": {"slippage_bps": 1}, "storage": {"url": cfg.storage.url}}))
    args = ["backtest", "-c", str(cfg_file), "--since", t0.isoformat(), "--until", (t0 + timedelta(hours=12)).isoformat(),
            "--offline"]
    runner = CliRunner()
    res = runner.invoke(app, [*args, "--recording", str(tmp_path / "rec"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["totals"]["slippage_source"] == {"recorded_depth": 2, "model": 2, "depth_exhausted": 0}
    assert D(doc["positions"][0]["slippage"]) == pos.slippage
    assert doc["positions"][0]["slippage_fills"] == {"recorded_depth": 2, "model": 2}
    res = runner.invoke(app, [*args, "--recording", str(tmp_path / "rec")])
    assert res.exit_code == 0 and "recorded depth 2 legs, model 2 legs" in " ".join(res.output.split())
    res = runner.invoke(app, [*args, "--recording", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a perpdex recording" in " ".join(res.output.split())
