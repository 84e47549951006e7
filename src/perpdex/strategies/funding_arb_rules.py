"""The funding-rate arbitrage strategy's decisions as pure functions: no network, no storage, no clock.

The live strategy (:class:`~perpdex.strategies.funding_arb.FundingArbStrategy`) and the backtest
(:mod:`perpdex.backtest`) both call these, so what the backtest simulates is what the bot decides:

* :func:`ranking_taker_fee` / :func:`leg_taker_fee`: the taker fee (fraction) used to rank
  opportunities and to charge a leg;
* :func:`rank` : every opportunity of a funding snapshot that passes the config's thresholds
  (net APR after fees, 24h volume, open interest, symbol list), best net APR first;
* :func:`history_filter`: the config's history thresholds over per-pair statistics;
* :class:`EntrySlots`: which ranked opportunities to try, given ``max_positions``, the symbols
  already held and the symbols cooling down;
* :func:`exit_rule`: why an open pair should close now (max age, spread flipped, spread eroded,
  max funding payments).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from ..config import StrategyConfig
from ..funding.collector import FundingSnapshot
from ..funding.opportunities import Opportunity, catalog_taker_fee, filter_by_history, find_opportunities, spread_apr
from ..models import ContractAttributes

if TYPE_CHECKING:
    from ..funding.history import PairStats


def ranking_taker_fee(override: Decimal | None, contracts: Iterable[ContractAttributes]) -> Decimal:
    """The fee an exchange is ranked with (fraction): the config's override, else the highest
    taker fee of its catalog (0 when empty)."""
    return override if override is not None else catalog_taker_fee(contracts)


def leg_taker_fee(override: Decimal | None, contracts: Mapping[str, ContractAttributes], symbol: str) -> Decimal:
    """The taker fee one leg pays (fraction): the config's override, else the symbol's catalog
    fee, else the highest of the catalog."""
    if override is not None:
        return override
    if symbol in contracts:
        return contracts[symbol].taker_fee
    return catalog_taker_fee(contracts.values())


def rank(cfg: StrategyConfig, snapshot: FundingSnapshot, taker_fees: dict[str, Decimal]) -> list[Opportunity]:
    """:func:`~perpdex.funding.opportunities.find_opportunities` with the config's thresholds
    (``min_net_apr``, ``hold_hours``, ``min_volume_24h_usd``, ``min_open_interest_usd``,
    ``symbols``); ``taker_fees[exchange]`` fractions."""
    return find_opportunities(
        snapshot, taker_fees,
        min_net_apr=cfg.min_net_apr,
        hold_hours=cfg.hold_hours,
        min_volume_24h_usd=cfg.min_volume_24h_usd,
        min_open_interest_usd=cfg.min_open_interest_usd,
        symbols=cfg.symbols or None,
    )


def history_filter_on(cfg: StrategyConfig) -> bool:
    """Whether the config's history filter has a threshold on."""
    return cfg.min_mean_spread_apr is not None or cfg.min_persistence_hours is not None


def history_filter(cfg: StrategyConfig, opps: list[Opportunity],
                   stats: Mapping[tuple[str, str, str], PairStats]) -> list[Opportunity]:
    """The opportunities (order kept) whose pair statistics over ``cfg.history_hours`` pass
    ``min_mean_spread_apr`` and ``min_persistence_hours`` (see
    :func:`~perpdex.funding.opportunities.filter_by_history`)."""
    return filter_by_history(opps, stats, min_mean_spread_apr=cfg.min_mean_spread_apr,
                             min_persistence_hours=cfg.min_persistence_hours)


@dataclass
class EntrySlots:
    """Entry bookkeeping of one cycle: ``open_count`` pairs open (or opening/closing) of at most
    ``max_positions``; ``held`` symbols already in a pair; ``cooling`` symbols in a cooldown.

    Iterate :meth:`candidates` over the ranked opportunities and call :meth:`opened` for each pair
    actually opened: the iteration stops once every slot is taken and skips held or cooling
    symbols (one pair per symbol)."""

    max_positions: int
    open_count: int
    held: set[str] = field(default_factory=set)
    cooling: Container[str] = field(default_factory=frozenset)

    @property
    def full(self) -> bool:
        return self.open_count >= self.max_positions

    def candidates(self, opps: Iterable[Opportunity]) -> Iterator[Opportunity]:
        """The opportunities worth trying, in the given order, while a slot is free."""
        for opp in opps:
            if self.full:
                return
            if opp.symbol in self.held or opp.symbol in self.cooling:
                continue
            yield opp

    def opened(self, opp: Opportunity) -> None:
        """A pair of ``opp`` was opened: one slot fewer, its symbol held."""
        self.open_count += 1
        self.held.add(opp.symbol)


def exit_rule(cfg: StrategyConfig, *, age_s: float, long_rate_8h: Decimal | None, short_rate_8h: Decimal | None,
              funding_payments: int = 0) -> str | None:
    """Why an open pair should close now, or None. ``age_s`` seconds since it opened;
    ``long_rate_8h``/``short_rate_8h`` the current 8h rates (fractions) of its long and short
    exchange (None: not quoted; the spread rules are then skipped); ``funding_payments`` payments
    recorded on both legs. Rules, in order: ``exit.max_age_s``, spread flipped (negative), spread
    eroded below ``exit.min_spread_apr``, ``exit.max_funding_payments``."""
    ex = cfg.exit
    if age_s >= ex.max_age_s:
        return f"max age reached ({age_s:.0f}s >= {ex.max_age_s:.0f}s)"
    if long_rate_8h is not None and short_rate_8h is not None:
        apr = spread_apr(long_rate_8h, short_rate_8h)
        if apr < 0:
            return f"spread flipped (now {apr:.2%} APR)"
        if apr < ex.min_spread_apr:
            return f"spread eroded ({apr:.2%} APR < {ex.min_spread_apr:.2%})"
    if ex.max_funding_payments is not None and funding_payments >= ex.max_funding_payments:
        return f"collected {funding_payments} funding payments"
    return None


def snapshot_rates_8h(snapshot: FundingSnapshot, symbol: str, long_exchange: str,
                      short_exchange: str) -> tuple[Decimal | None, Decimal | None]:
    """The 8h rates (fractions) of ``symbol`` on the long and short exchange in ``snapshot``
    (None where not quoted)."""
    lr = snapshot.rates.get(long_exchange, {}).get(symbol)
    sr = snapshot.rates.get(short_exchange, {}).get(symbol)
    return (lr.normalized_rate if lr is not None else None, sr.normalized_rate if sr is not None else None)
