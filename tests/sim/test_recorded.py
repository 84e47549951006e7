"""A recording as the emulator's market process (``sim.market: {recording: DIR}``).

One recording is made per module, from the emulator itself (Lighter and Aster, BTC and ETH, the
index pinned so only the makers requote, then moved by hand: 1 % down, then to 1 % above the start), with the real
recording tap under the real feeds; every book state those live feeds reached after each frame is
kept. A second emulator then takes the recording as its market: its books, seen through real
clients over loopback, go through the recorded states in order and hold the last one at the end;
a grid runs on it and its entry and take-profit fill when the replayed book crosses them; a bad
``sim.market`` is refused naming the field and the directory."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from perpdex.app import exchange_settings, runtime
from perpdex.config import GridConfig, load_config, parse_config
from perpdex.errors import ConfigError, StaleMarketData
from perpdex.recording.record import RecordingRun
from perpdex.recording.writer import Recorder
from perpdex.runtime.core import TradingRuntime
from perpdex.sim.recorded import RecordedMarketError
from perpdex.sim.server import start_emulators
from perpdex.storage import Store
from perpdex.strategies.grid import GridStrategy
from tests.execution.emulated import make_client

EXCHANGES = ["lighter", "aster"]
SYMBOLS = ["BTC", "ETH"]
DEPTH = 10
D = Decimal
State = tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]


def _state(feed, sym: str) -> State | None:
    try:
        book = feed.book(sym)
    except StaleMarketData:
        return None
    return tuple(book.bids(DEPTH)), tuple(book.asks(DEPTH))


def _watch(feed, states: dict[str, list[State]], watching: list[bool]) -> None:
    """After each frame the live feed handles (while ``watching[0]``), keep each symbol's book
    state when it changed."""
    handle = feed.handle_frame

    def handle_and_keep(data: bytes) -> None:
        handle(data)
        if not watching[0]:
            return
        for sym in SYMBOLS:
            s = _state(feed, sym)
            if s is not None and (not states[sym] or states[sym][-1] != s):
                states[sym].append(s)

    feed.handle_frame = handle_and_keep


async def _record(out: Path) -> dict[str, dict[str, list[State]]]:
    cfg = parse_config({"sim": {"enabled": True, "price_time_scale": 1e-6}, "exchanges": {n: {} for n in EXCHANGES},
                        "storage": {"url": f"sqlite+aiosqlite:///{out.parent / 'rec.db'}"}})
    states = {n: {s: [] for s in SYMBOLS} for n in EXCHANGES}
    watching = [True]
    async with runtime(cfg, with_clients=False) as rt:
        run = RecordingRun(Recorder(out), SYMBOLS)
        try:
            for name in EXCHANGES:
                await run.start(name, exchange_settings(cfg, name, rt.cluster))
                _watch(run.clients[name].feed, states[name], watching)
            assert await run.wait_ready(10) == {}
            index = rt.cluster.sim.index.prices
            await asyncio.sleep(2.0)
            for sym in SYMBOLS:
                index[sym] *= 0.99
            await asyncio.sleep(2.0)
            for sym in SYMBOLS:
                index[sym] *= 1.02  # to 1 % above where it started: through a take-profit above the start
            await asyncio.sleep(1.5)
        finally:
            watching[0] = False  # finish() stops the recording before its first await: the same frames
            await run.finish()
    return states


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, dict[str, dict[str, list[State]]]]:
    out = tmp_path_factory.mktemp("simrec") / "rec"
    states = asyncio.run(_record(out))
    return out, states


def _config(rec: Path, db: Path, **market) -> dict:
    return {"sim": {"enabled": True, "market": {"recording": str(rec), **market}},
            "exchanges": {n: {} for n in EXCHANGES}, "storage": {"url": f"sqlite+aiosqlite:///{db}"}}


async def test_books_follow_the_recorded_states_in_order_and_hold_the_last(recording, tmp_path):
    rec, live = recording
    cfg = parse_config(_config(rec, tmp_path / "x.db", speed=1.0))
    seen = {n: {s: [] for s in SYMBOLS} for n in EXCHANGES}
    async with runtime(cfg) as rt:
        market = rt.cluster.market
        assert market is not None and market.routes == {n: SYMBOLS for n in EXCHANGES}
        source = next(n for n in rt.cluster.sim.venues if n in EXCHANGES)  # in scenario order
        assert market.index_source == {s: source for s in SYMBOLS}
        for client in rt.clients.values():
            await client.connect()
            for sym in SYMBOLS:
                await client.prepare_market_feed(sym)
                assert await client.feed.wait_ready(sym, 10)
        end = time.monotonic() + 30
        while not market.replay.done and time.monotonic() < end:
            for name, client in rt.clients.items():
                for sym in SYMBOLS:
                    s = _state(client.feed, sym)
                    if s is not None and (not seen[name][sym] or seen[name][sym][-1] != s):
                        seen[name][sym].append(s)
            await asyncio.sleep(0.005)
        assert market.replay.done, "the recording did not end in time"
        await asyncio.sleep(1.0)  # the last states reach the clients
        final = {(n, s): _state(c.feed, s) for n, c in rt.clients.items() for s in SYMBOLS}
        venue_mid = rt.cluster.sim.venue("lighter").mark_price("BTC")
        index_btc = rt.cluster.sim.index.prices["BTC"]

    for name in EXCHANGES:
        for sym in SYMBOLS:
            states, got = live[name][sym], seen[name][sym]
            # the first states may predate the watch on the live feed; from the first recorded
            # state on, every state the client saw is a recorded one, in the recorded order
            first = next(i for i, s in enumerate(got) if s in states)
            assert first <= 2, f"{name} {sym}: {first} unrecorded states at the start"
            at = 0
            for s in got[first:]:
                assert s in states[at:], f"{name} {sym}: a state that is not a later recorded state"
                at = states.index(s, at)
            assert len(got) - first >= max(10, 0.8 * len(states)), \
                f"{name} {sym}: {len(got) - first} of {len(states)} recorded states seen"
            assert final[(name, sym)] == states[-1], f"{name} {sym}: the last recorded book is not held"
    # the 1 % move is in the replayed books: the states seen span it
    bids = [s[0][0][0] for s in seen["lighter"]["BTC"]]
    assert min(bids) < max(bids) * 0.995
    # mark = the recorded mid
    bb, ba = final[("lighter", "BTC")][0][0][0], final[("lighter", "BTC")][1][0][0]
    assert venue_mid == pytest.approx((bb + ba) / 2)
    # the index follows the recorded mid of the index source (BTC: no basis, no multiplier)
    bb, ba = final[(source, "BTC")][0][0][0], final[(source, "BTC")][1][0][0]
    assert index_btc == pytest.approx((bb + ba) / 2)


async def test_a_grid_fills_against_the_replayed_book(recording, tmp_path):
    rec, _ = recording
    cluster = await start_emulators(["lighter"], seed=5, price_time_scale=1e-6, recording=rec, recording_loop=True)
    venue = cluster.sim.venue("lighter")
    venue.passive_fill_prob = 0.0  # fills only when the replayed book crosses an order
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    await store.init()
    rt = TradingRuntime({"lighter": make_client(cluster, "lighter")}, store)
    g = GridStrategy(GridConfig(kind="grid", exchange="lighter", symbol="ETH", order_notional_usd=Decimal(60),
                                take_profit=Decimal("0.002"), max_orders=1, wait_time_s=0, entry_timeout_s=60,
                                cycle_interval_s=0.1), rt)
    try:
        assert cluster.market is not None and cluster.market.routes == {"lighter": SYMBOLS}
        await g.start()
        end = time.monotonic() + 25
        while len(fills := await store.order_fills(g.name)) < 2 and time.monotonic() < end:
            await g.cycle()
            await asyncio.sleep(0.1)
        assert [f.side for f in fills[:2]] == ["buy", "sell"], fills
        entry, tp = fills[:2]
        assert tp.quantity == entry.quantity
        assert abs(tp.price - entry.price * Decimal("1.002")) <= g.attrs.tick_size  # type: ignore[union-attr]
        # both were maker fills the recorded book crossed (no passive fills here), at the orders' prices
        made = [f for a in venue.accounts.values() for f in a.fills if f.symbol == "ETH"]
        assert [f.maker for f in made[:2]] == [True, True]
        assert [Decimal(str(f.price)) for f in made[:2]] == [entry.price, tp.price]
    finally:
        await g.stop()
        await rt.close()
        await store.close()
        await cluster.stop()


async def test_a_market_order_takes_the_replayed_liquidity(recording):
    rec, _ = recording
    cluster = await start_emulators(["lighter", "backpack"], seed=5, price_time_scale=1e-6, recording=rec,
                                    run_market=False)
    try:
        market = cluster.market
        assert market is not None and market.routes == {"lighter": SYMBOLS}  # aster is not emulated here
        venue = cluster.sim.venue("lighter")
        replayed = market.replay.exchanges["lighter"].client.feed.book("BTC")
        (a1, s1), (a2, _s2) = replayed.asks(2)
        assert venue.book("BTC", 2)[1] == [(a1, s1), (a2, _s2)]
        qty = venue.markets["BTC"].round_size(s1 + 0.5 * _s2)
        order = venue.place_order("me", "BTC", "buy", qty, order_type="market")
        assert order.status == "filled" and order.filled == qty
        assert order.avg_price == pytest.approx((s1 * a1 + (qty - s1) * a2) / qty)
        assert venue.book("BTC", 1)[1][0][0] == a2  # the first level was taken
        # a venue the recording does not hold keeps the seeded process, around the recorded price
        assert "BTC" not in cluster.sim.venue("backpack").recorded
        assert cluster.sim.venue("backpack").mid_price("BTC") == pytest.approx(
            cluster.sim.index.prices["BTC"] * (1 + cluster.sim.venue("backpack").markets["BTC"].basis_bps / 1e4))
    finally:
        await cluster.stop()


def test_a_bad_sim_market_names_the_field_and_the_directory(recording, tmp_path):
    rec, _ = recording
    with pytest.raises(ConfigError) as e:
        parse_config(_config(tmp_path / "nowhere", tmp_path / "x.db"))
    assert e.value.field == "sim.market.recording" and "nowhere" in str(e.value) and "no such directory" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as e:
        parse_config(_config(tmp_path / "empty", tmp_path / "x.db"))
    assert e.value.field == "sim.market.recording" and "manifest.json" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config(_config(rec, tmp_path / "x.db", speed=0))
    assert e.value.field == "sim.market.speed"
    with pytest.raises(ConfigError) as e:
        parse_config(_config(rec, tmp_path / "x.db", sped=2))
    assert e.value.field == "sim.market.sped"
    other = tmp_path / "other"
    other.mkdir()
    doc = json.loads((rec / "manifest.json").read_text())
    doc["exchanges"] = {"paradex": {**doc["exchanges"]["lighter"], "files": []}}
    (other / "manifest.json").write_text(json.dumps(doc))
    cfg = parse_config(_config(other, tmp_path / "x.db"))  # a valid recording, of another exchange

    async def start() -> None:
        async with runtime(cfg):
            pass

    with pytest.raises(ConfigError) as e:
        asyncio.run(start())
    assert e.value.field == "sim.market.recording" and "shares no exchange" in str(e.value) and str(other) in str(e.value)
    with pytest.raises(RecordedMarketError, match="shares no exchange"):
        asyncio.run(start_emulators(["lighter"], recording=other))


async def test_loop_starts_the_recording_over(recording):
    rec, live = recording
    cluster = await start_emulators(["lighter"], seed=5, price_time_scale=1e-6, recording=rec, recording_speed=4,
                                    recording_loop=True, run_market=False)
    try:
        market = cluster.market
        venue = cluster.sim.venue("lighter")
        end = time.monotonic() + 20
        while market.loops < 1 and time.monotonic() < end:
            await asyncio.sleep(0.05)
        assert market.loops == 1, "the recording was not started over"
        top = live["lighter"]["BTC"][-1][0][0][0]  # the last recorded best bid, 1 % above the start
        while venue.bbo("BTC")[0][0] > top * 0.995 and time.monotonic() < end:
            await asyncio.sleep(0.05)
        assert venue.bbo("BTC")[0][0] < top * 0.995  # back at the start of the recording
        installs = market.installs
        await asyncio.sleep(0.5)
        assert market.installs > installs  # and following it again
    finally:
        await cluster.stop()


async def test_the_bundled_replay_config_runs_on_a_recording(recording, tmp_path, monkeypatch):
    rec, _ = recording
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec").symlink_to(rec)  # the example's relative sim.market.recording
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "replay-sim.yml")
    assert cfg.sim.market is not None and cfg.sim.market.loop and [s.kind for s in cfg.strategies] == ["grid"]
    async with runtime(cfg) as rt:
        assert rt.cluster.market is not None and rt.cluster.market.routes == {"lighter": SYMBOLS}
        assert "ETH" in rt.cluster.sim.venue("lighter").recorded


def _recorded_but_ours(state: State, recorded: list[State], ours: set[float]) -> bool:
    """``state`` is a recorded state, or one with one of our resting orders (a size in ``ours``)
    on top: at one price, added to the recorded level or a level of its own (the recorded side's
    deepest level then pushed out of the top ``DEPTH``)."""
    def norm(side):
        return tuple((round(p, 8), round(q, 8)) for p, q in side)

    rec = {(norm(b), norm(a)) for b, a in recorded}
    bids, asks = norm(state[0]), norm(state[1])
    if (bids, asks) in rec:
        return True
    for qty in ours:
        for which in (0, 1):
            side = (bids, asks)[which]
            for i, (p, q) in enumerate(side):
                if abs(q - qty) < 1e-9:
                    cand = side[:i] + side[i + 1:]
                elif q > qty:
                    cand = side[:i] + ((p, round(q - qty, 8)),) + side[i + 1:]
                else:
                    continue
                other = (asks, bids)[which]
                for rb, ra in rec:
                    r_side, r_other = (rb, ra) if which == 0 else (ra, rb)
                    if r_other == other and r_side[:len(cand)] == cand:
                        return True
    return False


async def test_funding_arb_opens_collects_and_closes_on_the_replayed_books(recording, tmp_path):
    """Two recorded exchanges drive the emulator; the funding-arb strategy (the live class, its
    real clients over loopback) opens ETH long aster / short lighter on a spread the scenario's
    funding gives (pinned on the replaying emulator: the recording's books, the scenario's rates),
    collects funding and closes at max age. Every book its clients saw is a recorded state, and
    every taker fill is at a price of the replayed book, every maker fill at its resting order's
    own price (passive fills off: only the recorded book fills orders)."""
    from perpdex.strategies.funding_arb import FundingArbStrategy
    from perpdex.strategies.report import build_report

    rec, live = recording
    cfg = parse_config({
        "exchanges": {n: {} for n in EXCHANGES}, "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'fa.db'}"},
        "sim": {"enabled": True, "seed": 42, "funding_time_scale": 7200, "price_time_scale": 1e-6,
                "market": {"recording": str(rec), "loop": True}},
        "strategy": {"size_usd": 1500, "leverage": 3, "min_net_apr": 1.0, "scan_interval_s": 0.5,
                     "limit_timeout_s": 2.5, "max_positions": 1, "symbols": ["ETH"],
                     "exit": {"max_age_s": 8, "min_spread_apr": 0.05}},
    })
    store = Store(cfg.storage.url)
    await store.init()
    seen: dict[str, list[State]] = {n: [] for n in EXCHANGES}
    try:
        async with runtime(cfg) as rt:
            sim = rt.cluster.sim
            assert rt.cluster.market is not None and rt.cluster.market.routes == {n: SYMBOLS for n in EXCHANGES}
            sim.venue("aster").set_funding_rate("ETH", -0.0016)  # per 8 h: longs are paid
            sim.venue("lighter").set_funding_rate("ETH", 0.0002)  # per 1 h: shorts are paid
            for v in sim.venues.values():
                v.passive_fill_prob = 0.0
            strat = FundingArbStrategy(cfg.strategy, rt.clients, rt.adapters, store, fee_overrides=rt.fee_overrides)
            await strat.start()
            run = asyncio.create_task(strat.run(duration_s=16))
            while not run.done():
                for name, client in rt.clients.items():
                    s = _state(client.feed, "ETH")
                    if s is not None and (not seen[name] or seen[name][-1] != s):
                        seen[name].append(s)
                await asyncio.sleep(0.01)
            await run
            report = await build_report(store, strat.first_snapshot, strat.chosen, duration_s=16)
            made = {n: [f for a in v.accounts.values() for f in a.fills if f.symbol == "ETH"]
                    for n, v in sim.venues.items() if n in EXCHANGES}
            limit_prices = {n: {o.id: o.price for a in v.accounts.values() for o in a.orders.values()}
                            for n, v in sim.venues.items() if n in EXCHANGES}
            flat = all(p.qty == 0 for n in EXCHANGES for a in sim.venue(n).accounts.values() for p in a.positions.values())
    finally:
        await store.close()

    [pos] = report["positions"]
    assert (pos["symbol"], pos["long_exchange"], pos["short_exchange"]) == ("ETH", "aster", "lighter")
    assert pos["status"] == "closed" and pos["close_reason"].startswith("max age") and flat
    assert pos["funding_payments"] >= 1 and D(pos["funding_long"]) > 0 and D(pos["funding_short"]) > 0
    for name in EXCHANGES:
        states = live[name]["ETH"]
        got = seen[name]
        assert len(got) >= 5, f"{name}: the clients saw {len(got)} book states"
        ours = {round(f.qty, 8) for f in made[name]}  # the strategy's order size: its resting limit orders
        unexplained = [s for s in got if not _recorded_but_ours(s, states, ours)]
        assert len(unexplained) <= 2, f"{name}: {len(unexplained)} of {len(got)} book states are not recorded ones"
        prices = {p for s in states for side in s for p, _ in side}
        assert len(made[name]) >= 2  # open and close
        for f in made[name]:
            # a taker fill takes a recorded level; a maker fill is our resting limit order that a
            # replayed book crossed, filled at the order's own price (as on the exchange)
            if f.maker:
                assert f.price == limit_prices[name][f.order_id], f"{name}: maker fill at {f.price}, not its order's price"
            else:
                assert f.price in prices, f"{name}: fill at {f.price}, not a price of the recorded books"
