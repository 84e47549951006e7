"""A bundled market (``1000PEPEUSDT`` on one exchange) hedged against the plain coin (``PEPE``) on
another: both legs must hold the same number of tokens, and prices compare per token."""

from __future__ import annotations

from decimal import Decimal

import yaml

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.sim.scenario import load_scenario
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy

D = Decimal


def pepe_scenario(tmp_path):
    data = load_scenario()
    data["symbols"]["PEPE"] = 0.0000105
    data["venues"]["aster"]["markets"]["PEPE"] = {
        "multiplier": 1000, "tick": "0.0000001", "lot": "1", "min_notional": "5", "max_leverage": 20,
        "funding_rate": -0.0008, "interval_hours": 4, "spread_ticks": 2, "level_size": 400000, "levels": 40,
        "volume_24h_usd": 5.0e7, "open_interest_usd": 2.0e7}
    data["venues"]["lighter"]["markets"]["PEPE"] = {
        "market_id": 120, "tick": "0.000000001", "lot": "1", "min_size": "1000", "min_notional": "10",
        "max_leverage": 10, "funding_rate": 0.0002, "interval_hours": 1, "spread_ticks": 3, "level_size": 4.0e8,
        "levels": 40, "volume_24h_usd": 3.0e7, "open_interest_usd": 1.0e7}
    path = tmp_path / "pepe.yml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_bundled_and_plain_legs_hold_the_same_tokens(tmp_path):
    cfg = parse_config({
        "sim": {"enabled": True, "funding_time_scale": 3600, "scenario": str(pepe_scenario(tmp_path))},
        "exchanges": {"aster": {}, "lighter": {}},
        "strategy": {"size_usd": 1000, "leverage": 3, "min_net_apr": 0.5, "symbols": ["PEPE"],
                     "limit_timeout_s": 1.0, "exit": {"max_age_s": 3600}},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"},
    })
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await strat.start()
        aster, lighter = rt.clients["aster"], rt.clients["lighter"]
        assert (await aster.contract_attributes("PEPE")).multiplier == 1000
        assert (await lighter.contract_attributes("PEPE")).multiplier == 1
        report = await strat.cycle()
        [opp] = [o for o in report.opportunities if o.symbol == "PEPE"]
        assert (opp.long_exchange, opp.short_exchange) == ("aster", "lighter")
        assert report.opened, "the PEPE pair should open"
        [pos] = await store.positions(["open"])
        long_snap = await aster.fetch_position("PEPE")
        short_snap = await lighter.fetch_position("PEPE")
        tokens = pos.quantity
        assert long_snap.quantity * 1000 == tokens  # 1000PEPE units
        assert -short_snap.quantity == tokens  # PEPE units
        assert 900 <= tokens * D("0.0000105") <= 1100  # about size_usd of tokens
        # stored prices are per token on both legs, within a few ticks of each other
        assert abs(pos.entry_long_price - pos.entry_short_price) / pos.entry_short_price < D("0.01")
        assert await strat.close_position(pos, "test done")
    await store.close()
