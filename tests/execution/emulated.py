"""Helpers of the execution tests that run against the emulated exchanges: real clients on the
emulators' endpoints, and the emulator's own view of our accounts (positions, orders) to check
the executor against."""

from __future__ import annotations

import copy
from decimal import Decimal

from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeClient, ExchangeSettings
from perpdex.sim.engine import Order, Venue

D = Decimal


def make_client(cluster, name: str) -> ExchangeClient:
    """A real client of the emulated ``name`` (ccxt's own timeout 2 s: the executor's is shorter)."""
    ep = cluster.endpoints[name]
    cc = copy.deepcopy(ep["ccxt"])
    cc["timeout"] = 2000
    return registry.client_class(name)(ExchangeSettings(name, rest_url=ep["rest_url"], ws_url=ep["ws_url"],
                                                        options={"ccxt": cc}))


def engine_position(venue: Venue, multiplier: Decimal, symbol: str) -> Decimal:
    """Our signed position in canonical units, from the emulator's own accounts."""
    q = sum((p.qty for a in venue.accounts.values() for s, p in a.positions.items() if s == symbol), 0.0)
    return D(str(q)) * multiplier


def engine_orders(venue: Venue, symbol: str) -> dict[int, Order]:
    """Every order of ``symbol`` the emulator received from our accounts, by its id."""
    return {i: o for a in venue.accounts.values() for i, o in a.orders.items() if o.symbol == symbol}


def traded(venue: Venue, symbol: str, before: set[int], side: str) -> Decimal:
    """Base units (exchange units) that the orders received since ``before`` (ids) filled on
    ``side`` (buy|sell)."""
    return sum((D(str(o.filled)) for i, o in engine_orders(venue, symbol).items() if i not in before and o.side == side),
               D(0))
