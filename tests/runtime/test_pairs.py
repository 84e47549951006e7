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
        lq, sq = await first.runtime.leg_quantities(pos)

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
        closed = await store.get_position(pos.id)
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
