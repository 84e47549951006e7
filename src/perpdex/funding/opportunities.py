"""The opportunity finder: for each symbol listed on two exchanges, go long where the 8h-normalized
funding rate is lower and short where it is higher, and rank the pairs by net APR after the taker
fees of entering and exiting both legs.

Definitions (all fractions):

* ``spread_8h = rate_8h(short exchange) - rate_8h(long exchange)`` (>= 0 by construction);
* ``gross_apr = spread_8h / 8 * 8760``;
* ``fee_cost = 2 * (taker_fee(long) + taker_fee(short))`` per unit of notional (entry + exit);
* ``fee_apr = fee_cost * 8760 / hold_hours`` (fees amortized over the expected holding time);
* ``net_apr = gross_apr - fee_apr``.

An optional history filter (:func:`filter_by_history`) keeps only the pairs whose stored funding
history (:mod:`perpdex.funding.history`) shows a mean spread and a persistence above thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import TYPE_CHECKING

from ..models import HOURS_PER_YEAR, ContractAttributes
from .collector import FundingSnapshot

if TYPE_CHECKING:
    from .history import PairStats

_EIGHT = Decimal(8)


@dataclass(frozen=True)
class Opportunity:
    symbol: str
    long_exchange: str
    short_exchange: str
    long_rate_8h: Decimal
    short_rate_8h: Decimal
    spread_8h: Decimal
    gross_apr: Decimal
    fee_cost: Decimal
    fee_apr: Decimal
    net_apr: Decimal
    min_volume_24h_usd: Decimal | None
    min_open_interest_usd: Decimal | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.symbol, self.long_exchange, self.short_exchange)


def spread_apr(long_rate_8h: Decimal, short_rate_8h: Decimal) -> Decimal:
    """APR a long/short pair earns from funding alone (fraction per year)."""
    return (short_rate_8h - long_rate_8h) / _EIGHT * HOURS_PER_YEAR


def find_opportunities(
    snapshot: FundingSnapshot,
    taker_fees: dict[str, Decimal],
    *,
    min_net_apr: Decimal = Decimal(0),
    hold_hours: Decimal = Decimal(168),
    min_volume_24h_usd: Decimal = Decimal(0),
    min_open_interest_usd: Decimal = Decimal(0),
    symbols: list[str] | None = None,
) -> list[Opportunity]:
    """Every qualifying pair, best net APR first (equal net APRs: exchange pair, then symbol, in name order). ``taker_fees[exchange]`` is a fraction; an
    exchange missing from it counts as fee-free. Volume/OI filters apply to both exchanges (a
    missing statistic fails a non-zero filter)."""
    wanted = {s.upper() for s in symbols} if symbols else None
    out: list[Opportunity] = []
    exchanges = sorted(snapshot.rates)
    for a, b in combinations(exchanges, 2):
        ra, rb = snapshot.rates[a], snapshot.rates[b]
        for sym in sorted(ra.keys() & rb.keys()):  # a fixed order: equal net APRs rank the same in every run
            if wanted is not None and sym not in wanted:
                continue
            sa, sb = ra[sym], rb[sym]
            if sa.normalized_rate <= sb.normalized_rate:
                long_ex, short_ex, lr, sr = a, b, sa.normalized_rate, sb.normalized_rate
            else:
                long_ex, short_ex, lr, sr = b, a, sb.normalized_rate, sa.normalized_rate
            vols, ois = [], []
            for ex in (a, b):
                st = snapshot.stats.get(ex, {}).get(sym)
                vols.append(st.volume_24h_usd if st else None)
                ois.append(st.open_interest_usd if st else None)
            min_vol = None if None in vols else min(v for v in vols if v is not None)
            min_oi = None if None in ois else min(v for v in ois if v is not None)
            if min_volume_24h_usd > 0 and (min_vol is None or min_vol < min_volume_24h_usd):
                continue
            if min_open_interest_usd > 0 and (min_oi is None or min_oi < min_open_interest_usd):
                continue
            gross = spread_apr(lr, sr)
            fee_cost = 2 * (taker_fees.get(long_ex, Decimal(0)) + taker_fees.get(short_ex, Decimal(0)))
            fee_apr = fee_cost * HOURS_PER_YEAR / hold_hours
            net = gross - fee_apr
            if net < min_net_apr:
                continue
            out.append(Opportunity(sym, long_ex, short_ex, lr, sr, sr - lr, gross, fee_cost, fee_apr, net, min_vol, min_oi))
    out.sort(key=lambda o: o.net_apr, reverse=True)
    return out


def catalog_taker_fee(contracts: Iterable[ContractAttributes]) -> Decimal:
    """An exchange's taker fee for ranking: the highest of its catalog (fraction; 0 when empty)."""
    return max((c.taker_fee for c in contracts), default=Decimal(0))


def filter_by_history(
    opportunities: list[Opportunity],
    stats: Mapping[tuple[str, str, str], PairStats],
    *,
    min_mean_spread_apr: Decimal | None = None,
    min_persistence_hours: float | None = None,
) -> list[Opportunity]:
    """The opportunities (order kept) whose pair statistics ``stats[opportunity.key]`` (same long
    and short exchange) have ``mean_spread_apr >= min_mean_spread_apr`` (fraction per year) and
    ``persistence_hours >= min_persistence_hours``; a None threshold is off, and a pair without
    statistics or without samples fails every threshold that is on."""
    if min_mean_spread_apr is None and min_persistence_hours is None:
        return list(opportunities)
    out = []
    for o in opportunities:
        st = stats.get(o.key)
        if st is None or st.samples == 0:
            continue
        if min_mean_spread_apr is not None and (st.mean_spread_apr is None or st.mean_spread_apr < min_mean_spread_apr):
            continue
        if min_persistence_hours is not None and st.persistence_hours < min_persistence_hours:
            continue
        out.append(o)
    return out
