"""E06 tests shared by every exchange's ``test_userstream.py``: the same checks, run against
each emulated venue over real loopback sockets with the exchange's real client. Each exchange's
test module defines an ``env`` fixture and imports the tests (``from ..userstream_scenarios
import *``), so they are collected there, under that exchange.

Every scenario takes an :class:`Env`: the connected client, the emulated venue (its market process
stopped, so the book only moves on ``sim.step()``), the venue's engine account id, the symbol to
trade, and ``rest_trades()``: our fills of that symbol as unmodified ccxt ``fetch_my_trades``
returns them (the REST truth the runtime reconciles the stream with). Streams are started
through ``perpdex.runtime.streams.start_user_streams`` (the stream decodes; the runtime's
reconciler catches it up after reconnects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perpdex.exchanges.base import ExchangeClient
from perpdex.models import OrderStatus, Side, UserFill, UserOrderUpdate
from perpdex.runtime.streams import reconciler_of, start_user_streams
from perpdex.sim.engine import Simulation, Venue
from tests.waiting import eventually

TIMEOUT = 10.0
__all__ = ["test_E06_fills_and_order_status_match_rest", "test_E06_partial_fill_then_cancel",
           "test_E06_duplicated_fill_frame_counts_once", "test_E06_dropped_socket_recovered_by_rest_reconciliation",
           "test_E06_user_stream_up_while_market_data_paused", "test_E06_liquidation_delivered"]


@dataclass
class Env:
    client: ExchangeClient
    sim: Simulation
    venue: Venue
    account: str
    symbol: str
    rest_trades: Callable[[], Awaitable[list[dict[str, Any]]]]



def market_qty(env: Env, usd: float = 200.0) -> Decimal:
    """A size worth about ``usd`` at the current mid, on the lot grid (above the minimums)."""
    m = env.venue.markets[env.symbol]
    mid = env.venue.mid_price(env.symbol)
    lots = max(int(usd / mid / m.lot) + 1, int(float(m.min_size) / m.lot) + 1)
    return Decimal(str(m.round_size(lots * m.lot)))


async def started(env: Env):
    """The client's user stream started the way the runtime starts it (``runtime.streams``: the
    REST reconciler attached), connected and reconciled once without error."""
    streams = await start_user_streams({env.client.name: env.client}, [env.symbol], TIMEOUT)
    stream = streams[env.client.name]
    assert await stream.wait_connected(TIMEOUT), f"user stream never connected: {stream.last_error}"
    await eventually(lambda: stream.reconciliations >= 1 or stream.reconcile_errors >= 1, "first reconciliation")
    assert stream.reconcile_errors == 0
    return stream


async def rest_fills_of(env: Env, order_id: str) -> dict[str, Decimal]:
    """trade id -> amount of ``order_id``'s fills per REST (ccxt ``fetch_my_trades``)."""
    return {str(t["id"]): Decimal(str(t["amount"])) for t in await env.rest_trades() if str(t.get("order")) == order_id}


def by_trade(fills: list[UserFill]) -> dict[str, Decimal]:
    return {f.trade_id: f.qty for f in fills}


# --------------------------------------------------------------------------------------------------
async def test_E06_fills_and_order_status_match_rest(env: Env) -> None:
    """A market order that fills: order update (FILLED), fills (trade ids and sizes = REST), the
    position, and the consumer API (queue, listener, wait_fill, wait_order_final)."""
    stream = await started(env)
    seen: list[Any] = []
    remove = stream.add_listener(seen.append)
    q = stream.queue()
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills) == qty, fills
    assert all(f.symbol == env.symbol and f.side is Side.BUY and f.exchange == env.client.name for f in fills)
    assert all(f.liquidity == "taker" and f.fee >= 0 and not f.liquidation for f in fills)
    assert by_trade(fills) == await rest_fills_of(env, res.order_id)
    final = await stream.wait_order_final(res.order_id, TIMEOUT)
    assert final is not None and final.status is OrderStatus.FILLED and final.filled == qty, final
    info = await env.client.fetch_order(env.symbol, res.order_id)
    assert info is not None and info.status is OrderStatus.FILLED and info.filled_size == qty
    await eventually(lambda: (p := stream.position(env.symbol)) is not None and p.quantity == qty, "stream position")
    pos = stream.position(env.symbol)
    assert pos is not None and pos.entry_price > 0
    got = []
    while not q.empty():
        got.append(q.get_nowait())
    assert [f for f in got if isinstance(f, UserFill)] == fills
    assert [f for f in seen if isinstance(f, UserFill)] == fills
    remove()
    stream.remove_queue(q)


async def test_E06_partial_fill_then_cancel(env: Env) -> None:
    """A limit order crossing only the best ask: partially filled, rests, then canceled; the
    stream reports the fill (= REST) and the final CANCELED state with the filled size."""
    stream = await started(env)
    m = env.venue.markets[env.symbol]
    max_lev = Decimal(m.max_leverage)
    await env.client.set_leverage(env.symbol, max_lev)
    (ask_px, ask_size) = env.venue.bbo(env.symbol)[1]
    top = Decimal(str(m.round_size(ask_size)))
    qty = top + Decimal(str(m.round_size(m.lot * 3)))
    res = await env.client.place_limit_order(env.symbol, Side.BUY, qty, Decimal(str(ask_px)))
    assert res.order_id is not None
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=top)
    assert sum(f.qty for f in fills) == top
    await eventually(lambda: (o := stream.order(res.order_id)) is not None and o.status is OrderStatus.PARTIALLY_FILLED,
                     "partially filled update")
    await env.client.cancel_order(env.symbol, res.order_id)
    final = await stream.wait_order_final(res.order_id, TIMEOUT)
    assert final is not None and final.status is OrderStatus.CANCELED and final.filled == top, final
    assert by_trade(stream.fills_for(res.order_id)) == await rest_fills_of(env, res.order_id)
    info = await env.client.fetch_order(env.symbol, res.order_id)
    assert info is not None and info.status is OrderStatus.CANCELED and info.filled_size == top


async def test_E06_duplicated_fill_frame_counts_once(env: Env) -> None:
    """The emulator sends a fill frame twice (``dup`` fault): the fill is counted once."""
    stream = await started(env)
    env.venue.faults.inject("dup", symbol=env.symbol)
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    await eventually(lambda: stream.duplicates >= 1, "the duplicated frame seen")
    assert env.venue.faults.pending("dup", env.symbol) == 0
    fills = stream.fills_for(res.order_id)
    assert sum(f.qty for f in fills) == qty and len({f.trade_id for f in fills}) == len(fills)
    assert by_trade(fills) == await rest_fills_of(env, res.order_id)


async def test_E06_dropped_socket_recovered_by_rest_reconciliation(env: Env) -> None:
    """The socket drops as a fill is sent (``user_drop`` fault: the frame is lost): the stream
    reconnects, REST reconciliation recovers the missed fills, each counted once; later fills
    arrive on the new socket."""
    stream = await started(env)
    env.venue.faults.inject("user_drop", symbol=env.symbol)
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills) == qty
    assert stream.reconnects >= 1 and stream.recovered_fills >= 1, stream.stats()
    assert by_trade(fills) == await rest_fills_of(env, res.order_id)
    assert (await stream.wait_order_final(res.order_id, TIMEOUT)).status is OrderStatus.FILLED  # type: ignore[union-attr]
    before = stream.recovered_fills
    res2 = await env.client.place_market_order(env.symbol, Side.SELL, qty, reduce_only=True)
    assert res2.order_id is not None
    fills2 = await stream.wait_fill(res2.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills2) == qty and stream.recovered_fills == before  # from the stream itself
    reconciler = reconciler_of(stream)
    assert reconciler is not None
    await reconciler.reconcile()  # everything again over REST: nothing new
    assert stream.recovered_fills == before
    assert len(stream.fills()) == len({f.trade_id for f in stream.fills()})
    total = {tid: q for tid, q in by_trade(stream.fills()).items()}
    rest = {str(t["id"]): Decimal(str(t["amount"])) for t in await env.rest_trades()}
    assert total == rest


async def test_E06_user_stream_up_while_market_data_paused(env: Env) -> None:
    """Issue 4 part 2 / D09: market data paused (no frames while the market moves), the user
    stream keeps delivering fills; resume brings a ready book back."""
    stream = await started(env)
    feed: Any = env.client.feed
    await env.client.prepare_market_feed(env.symbol)
    env.sim.step()
    assert await feed.wait_ready(env.symbol, TIMEOUT)
    await env.client.pause_market_data_streams()
    frames = feed.frames_received
    for _ in range(5):
        env.sim.step()
        await asyncio.sleep(0.05)
    assert feed.stats()["state"] == "paused" and stream.stats()["state"] == "connected"
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills) == qty and stream.recovered_fills == 0
    final = await stream.wait_order_final(res.order_id, TIMEOUT)
    assert isinstance(final, UserOrderUpdate) and final.status is OrderStatus.FILLED
    assert feed.frames_received == frames  # no market-data traffic while paused
    await env.client.resume_market_data_streams(env.symbol)
    env.sim.step()
    assert await feed.wait_ready(env.symbol, TIMEOUT)
    assert stream.stats()["state"] == "connected" and stream.reconnects == 0


async def test_E06_liquidation_delivered(env: Env) -> None:
    """The exchange liquidates our position (engine ``liquidate`` fault on the next market step):
    the stream reports the liquidation, the closing fill flagged ``liquidation`` (its trade id
    = REST), and the flat position."""
    stream = await started(env)
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    env.venue.faults.inject("liquidate", symbol=env.symbol)
    env.sim.step()
    await eventually(lambda: bool(stream.liquidations()), "liquidation event")
    liq = stream.liquidations()[-1]
    assert liq.symbol == env.symbol and liq.side is Side.SELL and liq.qty == qty and liq.price > 0
    closing = [f for f in stream.fills() if f.liquidation]
    assert sum(f.qty for f in closing) == qty and all(f.side is Side.SELL for f in closing)
    assert not any(f.liquidation for f in stream.fills_for(res.order_id))
    await eventually(lambda: (p := stream.position(env.symbol)) is not None and p.quantity == 0, "flat position")
    rest = {str(t["id"]) for t in await env.rest_trades()}
    assert {f.trade_id for f in closing} <= rest


async def metrics_report_user_stream(env: Env) -> None:
    """The Prometheus collector exports the stream's counters and state."""
    from perpdex.metrics import PerpdexCollector

    stream = await started(env)
    qty = market_qty(env)
    res = await env.client.place_market_order(env.symbol, Side.BUY, qty)
    assert res.order_id is not None
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    collector = PerpdexCollector(lambda: [], user_streams=lambda: [stream])
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in collector.collect() for s in fam.samples}
    ex = (("exchange", env.client.name),)
    assert samples[("perpdex_user_stream_messages_total", ex)] >= len(fills)
    assert samples[("perpdex_user_stream_fills_total", ex)] == len(stream.fills()) >= len(fills)
    assert samples[("perpdex_user_stream_reconnects_total", ex)] == 0
    assert samples[("perpdex_user_stream_state", ex + (("state", "connected"),))] == 1.0
    assert samples[("perpdex_user_stream_state", ex + (("state", "stopped"),))] == 0.0
