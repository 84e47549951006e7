"""Conditional-order (stop-market) tests shared by every exchange's ``test_conditional.py``: the
same checks through perpdex's own client against each emulated venue, over real loopback sockets.
Each exchange's module provides the ``env`` fixture of its ``test_userstream.py`` (an
:class:`~tests.exchanges.userstream_scenarios.Env`: client, stopped market process, account,
symbol) and imports these tests (``from ..conditional_scenarios import *``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex.errors import InvalidOrder, OrderNotFound
from perpdex.models import OrderStatus, Side
from tests.waiting import eventually

from .userstream_scenarios import TIMEOUT, Env, market_qty, started

__all__ = ["test_C01_reduce_only_stop_rests_triggers_on_mark_and_reduces",
           "test_C02_stop_larger_than_position_never_reverses_it", "test_C03_cancel_and_refused_trigger"]


def _trigger(env: Env, fraction: float) -> Decimal:
    """A trigger ``fraction`` away from the current mark, on the tick grid (USD)."""
    m = env.venue.markets[env.symbol]
    return Decimal(str(m.round_price(env.venue.mark_price(env.symbol) * (1 + fraction))))


def _move(env: Env, fraction: float) -> None:
    """Move the emulated index (hence the book and the mark) by ``fraction`` and step the market."""
    env.venue.index.prices[env.symbol] *= 1 + fraction
    env.sim.step()


async def _open(env: Env, side: Side, qty: Decimal, stream) -> None:
    res = await env.client.place_market_order(env.symbol, side, qty)
    assert res.order_id is not None
    await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)


async def test_C01_reduce_only_stop_rests_triggers_on_mark_and_reduces(env: Env) -> None:
    stream = await started(env)
    qty = market_qty(env, 400.0)
    await _open(env, Side.BUY, qty, stream)
    lot = env.venue.markets[env.symbol].lot_size
    half = (qty / 2 / lot).to_integral_value(rounding="ROUND_DOWN") * lot
    trigger = _trigger(env, -0.02)
    res = await env.client.place_stop_market(env.symbol, Side.SELL, half, trigger, client_order_id="4242")
    assert res.order_id is not None and res.status is OrderStatus.OPEN and res.filled_size == 0
    [info] = await env.client.fetch_open_conditional_orders(env.symbol)
    assert (info.order_id, info.side, info.size, info.trigger_price) == (res.order_id, Side.SELL, half, trigger)
    assert info.reduce_only and info.trigger_by == "mark" and info.client_order_id == "4242"
    assert await env.client.fetch_open_conditional_orders(env.symbol) == [info]  # nothing triggered it yet
    _move(env, -0.01)
    assert len(await env.client.fetch_open_conditional_orders(env.symbol)) == 1  # mark above the trigger
    _move(env, -0.03)  # the mark falls through the trigger
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=half)
    assert sum(f.qty for f in fills) == half and all(f.side is Side.SELL for f in fills)
    final = await stream.wait_order_final(res.order_id, TIMEOUT)
    assert final is not None and final.status is OrderStatus.FILLED, final
    pos = await env.client.fetch_position(env.symbol)
    assert pos is not None and pos.quantity == qty - half
    assert await env.client.fetch_open_conditional_orders(env.symbol) == []


async def test_C02_stop_larger_than_position_never_reverses_it(env: Env) -> None:
    stream = await started(env)
    qty = market_qty(env)
    await _open(env, Side.SELL, qty, stream)
    res = await env.client.place_stop_market(env.symbol, Side.BUY, qty * 3, _trigger(env, 0.02))
    assert res.order_id is not None
    [info] = await env.client.fetch_open_conditional_orders(env.symbol)
    assert info.size == qty * 3 and info.reduce_only and info.side is Side.BUY
    _move(env, 0.04)
    fills = await stream.wait_fill(res.order_id, TIMEOUT, qty=qty)
    assert sum(f.qty for f in fills) == qty  # capped to the position
    await eventually(lambda: (o := stream.order(res.order_id)) is not None and o.status.is_final, "final update")
    assert await env.client.fetch_position(env.symbol) is None  # flat, not long
    assert env.venue.account(env.account).positions[env.symbol].qty == 0


async def test_C03_cancel_and_refused_trigger(env: Env) -> None:
    stream = await started(env)
    qty = market_qty(env)
    await _open(env, Side.BUY, qty, stream)
    by = env.client.stop_trigger_types[-1]  # "last" where the exchange offers it
    res = await env.client.place_stop_market(env.symbol, Side.SELL, qty, _trigger(env, -0.05), trigger_by=by)
    assert res.order_id is not None
    [info] = await env.client.fetch_open_conditional_orders(env.symbol)
    assert info.trigger_by == by
    canceled = await env.client.cancel_conditional_order(env.symbol, res.order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert await env.client.fetch_open_conditional_orders(env.symbol) == []
    with pytest.raises(OrderNotFound):
        await env.client.cancel_conditional_order(env.symbol, res.order_id)
    with pytest.raises(InvalidOrder) as err:  # a sell stop above the mark would fire at once
        await env.client.place_stop_market(env.symbol, Side.SELL, qty, _trigger(env, 0.02))
    assert err.value.exchange == env.client.name and "trigger" in str(err.value).lower()
    with pytest.raises(InvalidOrder):
        await env.client.place_stop_market(env.symbol, Side.SELL, qty, _trigger(env, -0.05), trigger_by="index")
    assert await env.client.fetch_open_conditional_orders(env.symbol) == []
    pos = await env.client.fetch_position(env.symbol)
    assert pos is not None and pos.quantity == qty  # nothing fired
