"""FundingHistory over a real SQLite store: rounds, latest per pair, windows and pair statistics on
hand-made rows with exact expected numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from perpdex.funding.collector import FundingSnapshot
from perpdex.funding.history import FundingHistory, snapshot_from_rows
from perpdex.models import FundingRateSample, MarketStats
from perpdex.storage import Store
from perpdex.storage.models import FundingSnapshotRow

D = Decimal
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


async def add(store: Store, exchange: str, symbol: str, at: datetime, rate_8h: str, *, interval_hours: str = "8",
              volume: str | None = "1000000", oi: str | None = "500000") -> None:
    r8 = D(rate_8h)
    ih = D(interval_hours)
    async with store.sessions() as s, s.begin():
        s.add(FundingSnapshotRow(exchange=exchange, symbol=symbol, collected_at=at, rate=r8 * ih / 8,
                                 interval_hours=ih, rate_8h=r8, mark_price=D("100.5"),
                                 volume_24h_usd=None if volume is None else D(volume),
                                 open_interest_usd=None if oi is None else D(oi), next_funding_time=None))


async def seed_pair(store: Store) -> None:
    """Symbol X: ``a`` steady at 1 bp/8h, ``b`` varying; spreads (b - a) per hourly round t0..t4:
    -1, +2, +1, +3, +5 bp/8h (mean +2 bp). A round at t2+30min has ``a`` only (not paired); one
    row 10 h before t0 is outside a 4 h window."""
    for k, b in enumerate(["0", "0.0003", "0.0002", "0.0004", "0.0006"]):
        await add(store, "a", "X", T0 + k * H, "0.0001")
        await add(store, "b", "X", T0 + k * H, b, interval_hours="1")
    await add(store, "a", "X", T0 + 2.5 * H, "0.0009")
    await add(store, "a", "X", T0 - 10 * H, "0.5")
    await add(store, "b", "X", T0 - 10 * H, "-0.5")


async def test_pair_stats_mean_spread_and_persistence_exact(store):
    await seed_pair(store)
    hist = FundingHistory(store.sessions)
    now = T0 + 4 * H
    stats = await hist.stats([("X", "a", "b")], hours=4, now=now)
    st = stats[("X", "a", "b")]
    assert st.samples == 5
    assert (st.first_at, st.last_at) == (T0, T0 + 4 * H)
    assert st.mean_spread_8h == D("0.0002")
    assert st.mean_spread_hourly == D("0.000025")
    assert st.mean_spread_apr == D("0.219")  # 0.0002 / 8 * 8760
    assert st.last_spread_8h == D("0.0005")
    assert st.persistence_hours == 3.0  # positive since t1 (t0 was -1 bp)

    # above 20 % APR (0.0001826 per 8h): the +1 bp round at t2 breaks the run -> t3..t4
    [st20] = (await hist.stats([("X", "a", "b")], hours=4, now=now, threshold_apr=D("0.2"))).values()
    assert st20.persistence_hours == 1.0 and st20.samples == 5

    # the other orientation: mean negative, latest round not positive -> no persistence
    rev = (await hist.stats([("X", "b", "a")], hours=4, now=now))[("X", "b", "a")]
    assert rev.mean_spread_8h == D("-0.0002") and rev.persistence_hours == 0.0

    # a wider window takes in the old round (spread -1.0): mean (0.001 - 1.0) / 6
    wide = (await hist.stats([("X", "a", "b")], hours=24, now=now))[("X", "a", "b")]
    assert wide.samples == 6 and wide.mean_spread_8h == (D("0.001") - 1) / 6
    assert wide.persistence_hours == 3.0

    # a pair with no common round
    none = (await hist.stats([("X", "a", "zz")], hours=4, now=now))[("X", "a", "zz")]
    assert none.samples == 0 and none.mean_spread_apr is None and none.persistence_hours == 0.0


async def test_symbol_stats_orients_long_the_lower_mean(store):
    await seed_pair(store)
    await add(store, "c", "X", T0 + 4 * H, "0.0011")
    hist = FundingHistory(store.sessions)
    pairs = await hist.symbol_stats("X", hours=4, now=T0 + 4 * H)
    got = {(p.long_exchange, p.short_exchange): p for p in pairs}
    # mean rate_8h over the window: a 0.0014/6 (6 rows incl. t2.5), b 0.0003, c 0.0011
    assert set(got) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert got[("a", "c")].samples == 1 and got[("a", "c")].mean_spread_8h == D("0.001")
    assert got[("b", "c")].mean_spread_8h == D("0.0005")
    assert [(p.long_exchange, p.short_exchange) for p in pairs] == [("a", "c"), ("b", "c"), ("a", "b")]


async def test_history_window_and_exchange_filter(store):
    await seed_pair(store)
    hist = FundingHistory(store.sessions)
    rows = await hist.history("X", 4, now=T0 + 4 * H)
    assert len(rows) == 11  # 5 rounds x 2 + the a-only round
    assert [r.collected_at for r in rows] == sorted(r.collected_at for r in rows)
    assert all(r.collected_at.tzinfo is not None for r in rows)
    only_b = await hist.history("X", 4, exchange="b", now=T0 + 4 * H)
    assert [r.rate for r in only_b] == [D(0), D("0.0000375"), D("0.000025"), D("0.00005"), D("0.000075")]
    assert await hist.history("Y", 4, now=T0 + 4 * H) == []


async def test_round_latest_max_age_and_prune(store):
    hist = FundingHistory(store.sessions)
    snap = FundingSnapshot()
    snap.rates = {
        "a": {"X": FundingRateSample.from_interval_rate("a", "X", D("0.0001"), D(4), mark_price=D("2.5")),
              "Y": FundingRateSample.from_interval_rate("a", "Y", D("-0.00002"), D(1))},
        "b": {"X": FundingRateSample.from_interval_rate("b", "X", D("0.00001"), D(1))},
    }
    snap.stats = {"a": {"X": MarketStats("a", "X", D("9000000"), D("4000000"))}}
    assert await hist.store_round(snap, T0) == 3
    snap.rates["a"]["X"] = FundingRateSample.from_interval_rate("a", "X", D("0.0003"), D(4))
    del snap.rates["b"]
    assert await hist.store_round(snap, T0 + H) == 2

    latest = await hist.latest(now=T0 + H)
    assert [(r.exchange, r.symbol, r.collected_at) for r in latest] == [
        ("a", "X", T0 + H), ("a", "Y", T0 + H), ("b", "X", T0)]
    assert latest[0].rate == D("0.0003") and latest[0].rate_8h == D("0.0006") and latest[0].interval_hours == D(4)
    assert latest[0].volume_24h_usd == D("9000000") and latest[0].open_interest_usd == D("4000000")
    # b's sample is an hour old: out with a 30 min bound
    fresh = await hist.latest(max_age_s=1800, now=T0 + H)
    assert {(r.exchange, r.symbol) for r in fresh} == {("a", "X"), ("a", "Y")}
    assert [r.symbol for r in await hist.latest(exchange="a", symbol="Y")] == ["Y"]

    s = snapshot_from_rows(latest)
    assert s.rates["b"]["X"].normalized_rate == D("0.00008") and s.rates["a"]["X"].raw_rate == D("0.0003")
    assert s.stats == {"a": {"X": MarketStats("a", "X", D("9000000"), D("4000000"))}}  # Y/b stored none
    assert s.ts == (T0 + H).timestamp()

    assert await hist.last_collected() == {"a": T0 + H, "b": T0}
    assert await hist.prune(0.5, now=T0 + H) == 3  # the first round
    assert await hist.last_collected() == {"a": T0 + H}
