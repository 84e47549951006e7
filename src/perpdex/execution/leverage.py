"""Leverage normalization for a two-leg trade: both legs carry the same leverage, the lower of
what the trader wants and what each exchange allows for the symbol, set where the exchange has a
setting and read back to verify.

Each exchange's model (``ExchangeClient.leverage_model``, from its protocol doc): ``per_market``
(Aster, Lighter, Paradex: set for the symbol), ``account`` (Backpack: one limit for every market
of the account, so setting it for this trade changes it for all), ``implicit`` (no setting: the
leverage follows from the margin posted, nothing is sent).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from ..errors import ExchangeError
from ..exchanges.base import ExchangeClient
from ..models import ContractAttributes, LeverageInfo
from .concurrency import gather_strict
from .refusal import PreflightRefused, Refusal, refuse

log = logging.getLogger(__name__)

# A leverage read back may differ from the whole number set by the exchange's margin-fraction
# rounding (Lighter stores floor(10 000 / L) in 0.01 % units: 3x reads back as 100/33.33 = 3.0003x).
LEVERAGE_TOLERANCE = Decimal("0.005")



@dataclass(frozen=True)
class LeverageChoice:
    """``leverage`` (x, whole) set on both legs; ``max_long``/``max_short`` the exchanges' maxima
    for the symbol; ``limited_by`` names what capped it (``"requested"`` or an exchange);
    ``changed``: it had to be set on at least one exchange (it was not already in force)."""

    leverage: Decimal
    max_long: Decimal
    max_short: Decimal
    limited_by: str
    changed: bool = False


def choose_leverage(wanted: Decimal, long_name: str, max_long: Decimal, short_name: str, max_short: Decimal) -> LeverageChoice:
    """min(wanted, max_long, max_short) rounded down to a whole leverage. Raises
    :class:`PreflightRefused` (``LEVERAGE``) when that is below 1x."""
    lev, by = wanted, "requested"
    if max_long < lev:
        lev, by = max_long, long_name
    if max_short < lev:
        lev, by = max_short, short_name
    whole = lev.to_integral_value(rounding=ROUND_FLOOR)
    if whole < 1:
        raise PreflightRefused(Refusal.LEVERAGE, f"leverage {lev}x (limited by {by}) is below 1x")
    return LeverageChoice(whole, max_long, max_short, by)


async def _read(client: ExchangeClient, leg: str, symbol: str) -> LeverageInfo:
    try:
        return await client.fetch_leverage_info(symbol)
    except ExchangeError as exc:
        raise refuse(Refusal.LEVERAGE, leg, client.name, f"reading leverage of {symbol} failed: {exc}") from exc


async def _apply(client: ExchangeClient, leg: str, symbol: str, lev: Decimal, current: Decimal | None) -> bool:
    """Set ``lev`` and read it back (True); nothing when implicit or already in force (False:
    ``current``, just read, is the exchange's own figure, no second read before every trade)."""
    if client.leverage_model == "implicit":
        return False
    if current is not None and abs(current - lev) <= lev * LEVERAGE_TOLERANCE:
        return False
    try:
        supported = await client.set_leverage(symbol, lev)
    except ExchangeError as exc:
        raise refuse(Refusal.LEVERAGE, leg, client.name, f"setting leverage {lev}x on {symbol} failed: {exc}") from exc
    if not supported:
        raise refuse(Refusal.LEVERAGE, leg, client.name,
                     f"leverage cannot be set on {symbol} although the exchange's model is {client.leverage_model}")
    if client.leverage_model == "account":
        log.info("%s: account-wide leverage now %sx (for %s)", client.name, lev, symbol)
    after = (await _read(client, leg, symbol)).current_leverage
    if after is None or abs(after - lev) > lev * LEVERAGE_TOLERANCE:
        shown = "nothing" if after is None else f"{after}x"
        raise refuse(Refusal.LEVERAGE, leg, client.name, f"leverage set to {lev}x on {symbol} but the exchange reports {shown}")
    return True


async def normalize_leverage(
    long: ExchangeClient, short: ExchangeClient, symbol: str, wanted: Decimal,
    long_attrs: ContractAttributes, short_attrs: ContractAttributes,
) -> LeverageChoice:
    """Read both exchanges' maximum for ``symbol`` (their leverage info, else the catalog), choose
    the common leverage, set it where needed and verify it on both. Raises
    :class:`PreflightRefused` (``LEVERAGE``) naming the leg at fault."""
    li, si = await gather_strict(_read(long, "long", symbol), _read(short, "short", symbol))
    choice = choose_leverage(wanted, long.name, li.max_leverage or long_attrs.max_leverage,
                             short.name, si.max_leverage or short_attrs.max_leverage)
    changed = await gather_strict(_apply(long, "long", symbol, choice.leverage, li.current_leverage),
                                  _apply(short, "short", symbol, choice.leverage, si.current_leverage))
    if any(changed):
        choice = dataclasses.replace(choice, changed=True)
    if choice.limited_by != "requested":
        log.info("%s: leverage normalized to %sx (limited by %s)", symbol, choice.leverage, choice.limited_by)
    return choice
