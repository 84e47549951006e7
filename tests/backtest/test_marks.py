"""Stored mark prices move a leg's notional (accounting model, docs/BACKTEST.md): a leg holds
``size_usd / mark at entry`` base units and is paid funding, and charged its exit fee and
slippage, on that quantity at the mark of the moment."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from .test_hand_computed import config, rows, run

D = Decimal


async def test_marks_scale_funding_and_exit_costs(tmp_path):
    marked = []
    for r in rows():
        if r.symbol == "ETH":
            # aster's mark doubles from 04:00 on; lighter's stays at 100
            mark = D(100) if r.exchange == "lighter" or r.funding_time.hour < 4 else D(200)
            r = replace(r, mark_price=mark)
        marked.append(r)
    result = await run(config(tmp_path), marked)
    [pos] = result.positions
    # long aster: 10 units (1000 / 100 at entry); 04:00 at 200: receives 0.0002 * 10 * 200 = 0.4,
    # 08:00 pays 0.0006 * 2000 = 1.2; the short (lighter) leg is unchanged (mark steady)
    assert pos.funding_long == D("0.4") - D("1.2")
    assert pos.funding_short == D("0.8")
    # exit on aster at notional 2000: fee 0.0004 * (1000 + 2000), lighter 0.0002 * 2000
    assert pos.fees == D("0.0004") * 3000 + D("0.0002") * 2000
    assert pos.slippage == D("0.0001") * (3000 + 2000)
    assert pos.turnover == D(5000)
