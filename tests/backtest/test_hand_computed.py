"""A backtest small enough to compute by hand: two exchanges, twelve hours, fees, slippage and one
funding flip. Every figure the backtest reports is derived here from the rows written.

The history (hand-built rows in a real SQLite store, the backtest's only input):

* aster settles every 4 h: ETH -0.0002 at 00:00 and 04:00 (8h: -0.0004), then +0.0006 at 08:00
  (8h: +0.0012, the flip); BTC -0.00002 at 00:00, 04:00, 08:00 (8h: -0.00004);
* lighter settles every hour 00:00..11:00: ETH +0.0001 until 08:00 (8h: +0.0008), +0.00015 from
  09:00 (8h: +0.0012, the spread is gone); BTC +0.0000075 (8h: +0.00006).

Config: size 1000 USD per leg, leverage 2, one position, min net APR 10 %, hold 168 h, taker fees
aster 0.04 %, lighter 0.02 % (config overrides), slippage 1 bp per fill, re-entry cooldown 1 h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpdex.backtest.engine import BacktestSettings
from perpdex.backtest.runner import backtest
from perpdex.config import parse_config
from perpdex.funding.settled import SettledFunding, SettledFundingStore
from perpdex.storage import Store

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


def rows() -> list[SettledFunding]:
    out = []
    for h, eth in ((0, "-0.0002"), (4, "-0.0002"), (8, "0.0006")):
        out.append(SettledFunding("aster", "ETH", at(h), D(eth), D(4), source="hand"))
        out.append(SettledFunding("aster", "BTC", at(h), D("-0.00002"), D(4), source="hand"))
    for h in range(12):
        out.append(SettledFunding("lighter", "ETH", at(h), D("0.0001") if h <= 8 else D("0.00015"), D(1), source="hand"))
        out.append(SettledFunding("lighter", "BTC", at(h), D("0.0000075"), D(1), source="hand"))
    return out


def config(tmp_path, **strategy):
    return parse_config({
        "exchanges": {"aster": {"taker_fee": "0.0004"}, "lighter": {"taker_fee": "0.0002"}},
        "strategy": {"size_usd": 1000, "leverage": 2, "max_positions": 1, "min_net_apr": 0.1, "hold_hours": 168,
                     "reentry_cooldown_s": 3600, "exit": {"min_spread_apr": 0.05}, **strategy},
        "backtest": {"slippage_bps": 1},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bt.db'}"},
    })


async def run(cfg, history=None):
    store = Store(cfg.storage.url)
    await store.init()
    try:
        await SettledFundingStore(store.sessions).add(history if history is not None else rows())
        return await backtest(store, cfg.strategy, BacktestSettings.from_config(cfg), at(0), at(12),
                              cfg.enabled_exchanges)
    finally:
        await store.close()


async def test_every_figure_by_hand(tmp_path):
    result = await run(config(tmp_path))

    # 00:00: ETH long aster (8h -0.0004) / short lighter (8h +0.0008): spread 0.0012 per 8h
    gross = D("0.0012") / 8 * 8760  # 1.314
    fee_apr = 2 * (D("0.0004") + D("0.0002")) * 8760 / 168
    # BTC: spread 0.0001 per 8h -> 0.1095 - 0.0626 < 10 %: never a candidate
    assert D("0.0001") / 8 * 8760 - fee_apr < D("0.1")
    [pos] = result.positions
    assert (pos.symbol, pos.long_exchange, pos.short_exchange) == ("ETH", "aster", "lighter")
    assert pos.entry_net_apr == gross - fee_apr
    assert pos.opened_at == at(0)
    # 08:00: aster settles +0.0006 (8h +0.0012 > lighter's +0.0008): the spread flipped, closed at once
    assert pos.closed_at == at(8)
    assert pos.close_reason.startswith("spread flipped")
    # funding: the long (aster) leg receives -rate * 1000 at 04:00 and 08:00 (not the 00:00 settlement:
    # it opened after it); the short (lighter) leg receives +0.0001 * 1000 at 01:00..08:00
    assert pos.funding_long == D("0.2") - D("0.6")
    assert pos.funding_short == 8 * D("0.1")
    assert pos.payments == 2 + 8
    # taker fees on both legs, entry and exit, and 1 bp of slippage on the four fills
    assert pos.fees == D("0.0004") * 2000 + D("0.0002") * 2000  # 1.2
    assert pos.slippage == D("0.0001") * 4000  # 0.4
    assert pos.net == D("-0.4") + D("0.8") - D("1.2") - D("0.4")  # -1.2
    # one flip: at 08:00 the pair paid 0.6 on aster and received 0.1 on lighter
    assert pos.flips == 1
    # after the close ETH cools down until 09:00, and from 09:00 lighter pays +0.0012 per 8h too: no spread

    # the hourly equity curve: entry costs (0.4 + 0.2 fees, 0.2 slippage) at 00:00, +0.1 an hour
    # from lighter, +0.2 at 04:00 from aster, then at 08:00 +0.1 - 0.6 and the exit's 0.8
    expected = [D(x) for x in ("-0.8", "-0.7", "-0.6", "-0.5", "-0.2", "-0.1", "0.0", "0.1",
                               "-1.2", "-1.2", "-1.2", "-1.2")]
    assert result.equity == expected
    t = result.totals
    assert t["hours"] == 12 and t["positions"] == 1
    assert t["funding"] == D("0.4") and t["fees"] == D("1.2") and t["slippage"] == D("0.4")
    assert t["net_pnl"] == D("-1.2")
    assert t["capital"] == 1 * 2 * D(1000) / 2  # margin of both legs at 2x
    assert t["net_apr"] == D("-1.2") / D(1000) * 8760 / 12
    assert t["max_drawdown"] == D("0.1") - D("-1.2")  # from the 07:00 peak
    assert t["turnover"] == D(4000)
    assert t["funding_flips"] == 1
    assert t["close_reasons"] == {"spread flipped": 1}
    assert t["symbol_hours"] == 4 * 12  # 2 exchanges x 2 symbols x 12 h


async def test_cooldown_and_reentry_by_hand(tmp_path):
    """Without the 09:00 change on lighter, ETH re-enters the other way once the cooldown ends:
    the 1 h cooldown blocks 08:00 (until 09:00) and the pair reopens at 09:00, long lighter
    (8h +0.0008) / short aster (8h +0.0012, its 08:00 rate, 1 h old and not stale)."""
    history = [r if not (r.exchange == "lighter" and r.symbol == "ETH") else
               SettledFunding("lighter", "ETH", r.funding_time, D("0.0001"), D(1), source="hand") for r in rows()]
    result = await run(config(tmp_path), history)
    first, second = result.positions
    assert first.closed_at == at(8)
    assert (second.symbol, second.long_exchange, second.short_exchange) == ("ETH", "lighter", "aster")
    assert second.opened_at == at(9) and second.closed_at == at(11)
    assert second.close_reason == "end of backtest"
    # long lighter pays +0.0001 * 1000 at 10:00 and 11:00; aster's next settlement (12:00) is after the end
    assert second.funding_long == D("-0.2") and second.funding_short == 0
    assert second.flips == 2
    assert second.entry_net_apr == D("0.0004") / 8 * 8760 - 2 * (D("0.0004") + D("0.0002")) * 8760 / 168
