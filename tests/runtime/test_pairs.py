"""Pair recovery in the runtime (issue 10): a bot that dies while closing a pair, after its orders
executed but before their fills were stored, is restarted over the same store and exchanges
(the emulator, real clients on loopback).

The restart must finish the close with the real exit prices (taken from the exchanges' fill
history, not left empty), store the close fills and their fees, and count the recovered close as
a close for every rule: the re-entry cooldown is stored, so the same symbol is not reopened in
the same second, by this run or the next."""

from __future__ import annotations

from decimal import Decimal

from perpdex.app import runtime
from perpdex.storage import PositionStatus, Store
from perpdex.strategies.funding_arb import FundingArbStrategy
from tests.strategies.test_funding_arb_e2e import config

D = Decimal


async def test_recovered_close_has_exit_prices_fees_and_stored_cooldown(tmp_path):
    cfg = config(tmp_path, reentry_cooldown_s=3600, exit={"max_age_s": 3600, "min_spread_apr": 0.05})
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        first = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
        await first.start()
        assert len((await first.cycle()).opened) == 1
        [pos] = await store.positions(["open"])
        assert pos.strategy == "funding_arb"
        # the close runs, then the process dies before anything of it reaches storage
        await store.update_position(pos.id, status=PositionStatus.CLOSING, close_reason="spread eroded")
        lq, sq = await first.runtime.fetch_leg_quantities(pos)

        async def lost(_fill) -> None:
            return None

        result = await first.executor.close(rt.clients[pos.long_exchange], rt.clients[pos.short_exchange], pos.symbol,
                                            lq, sq, on_fill=lost)
        assert result.success
        assert not [f for f in await store.fills(pos.id) if f.phase != "open"]

        events: list[str] = []
        second = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides,
                                    on_event=events.append)
        await second.start()
        closed = await store.position(pos.id)
        assert closed.status == PositionStatus.CLOSED and closed.close_reason == "spread eroded"
        # exit prices and fees from the recovered fills (within the book around the fills' prices)
        assert closed.exit_long_price is not None and closed.exit_short_price is not None
        exits = [f for f in await store.fills(pos.id) if f.phase == "close"]
        assert {f.exchange for f in exits} == {pos.long_exchange, pos.short_exchange}
        for ex, side, price in ((pos.long_exchange, "sell", closed.exit_long_price),
                                (pos.short_exchange, "buy", closed.exit_short_price)):
            rows = [f for f in exits if f.exchange == ex]
            assert {f.side for f in rows} == {side}
            assert sum((f.quantity for f in rows), D(0)) == (lq if ex == pos.long_exchange else sq)
            assert min(f.price for f in rows) <= price <= max(f.price for f in rows)
        assert sum((f.fee for f in exits), D(0)) > 0
        # the recovered close counts as a close: the re-entry cooldown is stored and honoured
        cooling = await store.cooldowns("funding_arb")
        assert pos.symbol in cooling
        report = await second.cycle()
        assert pos.symbol in [o.symbol for o in report.opportunities]  # still the best spread...
        assert not [p for p in await store.positions(["opening", "open"]) if p.symbol == pos.symbol]  # ...not reopened
    await store.close()


async def test_a_close_meeting_dust_records_a_dust_pair_then_sweeps_it(tmp_path):
    """The fault test's seed-123 legs (aster long 1, lighter short 1.4, below lighter's minimum 5)
    meet a close: the pair is stored ``dust`` (hedged, not naked, an event names it), its symbol
    is held, and the next cycle sweeps it within the retry fee cap: flat, ``closed``."""
    from perpdex.models import Side

    cfg = config(tmp_path, min_net_apr=1000, max_retry_fees_usd=5)  # no new opportunity: only the sweep trades
    store = Store(cfg.storage.url)
    await store.init()
    async with runtime(cfg) as rt:
        events: list[str] = []
        strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides,
                                   on_event=events.append)
        await strat.start()
        long_c, short_c = rt.clients["aster"], rt.clients["lighter"]
        for c, side, q, ro in ((long_c, Side.BUY, D(3), False), (long_c, Side.SELL, D(2), True),
                               (short_c, Side.SELL, D("6.4"), False), (short_c, Side.BUY, D(5), True)):
            assert (await c.place_market_order("0G", side, q, reduce_only=ro)).success
        pos = await strat.pairs.create(symbol="0G", long_exchange="aster", short_exchange="lighter", quantity=D(1))
        await store.update_position(pos.id, status=PositionStatus.OPEN)
        pos = await store.position(pos.id)
        assert not await strat.close_position(pos, "spread eroded")
        dust = await store.position(pos.id)
        assert dust.status == PositionStatus.DUST and not dust.detail["naked"]
        assert dust.detail["dust"] == [["aster", "1"], ["lighter", "-1.4"]]
        assert any(f"#{pos.id} dust" in e for e in events), events
        assert await strat.runtime.fetch_leg_quantities(dust) == (1, D("1.4"))  # still hedged
        await strat.cycle()
        swept = await store.position(pos.id)
        assert swept.status == PositionStatus.CLOSED and swept.close_reason.endswith("dust swept")
        assert await strat.runtime.fetch_leg_quantities(swept) == (0, 0)
    await store.close()
