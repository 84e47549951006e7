"""The symbol registry shared by every exchange: one canonical symbol per asset (``"PEPE"``), and
per exchange its own symbol, market id and **multiplier** — how many canonical units one exchange
unit is (``1000PEPEUSDT`` on one exchange and ``kPEPE-USD-PERP`` on another are both 1,000 PEPE per
unit; ``PEPE_USDC_PERP`` is 1). Prices and sizes of two exchanges are compared only after
conversion to canonical units, so a bundle never looks like a price gap or a size mismatch.

Prefix conventions (docs/exchanges/aster.md §2.1, docs/exchanges/lighter.md §2.1, Paradex ``k`` prefix):
``1000PEPE``/``10000SATS``/``1000000MOG`` (a power of ten of at least 1,000), ``1MBABYDOGE``
(one million), ``kBONK`` (lower-case k: 1,000). A leading digit that is not such a prefix is part
of the name (``2Z``, ``0G``, ``1INCH``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, overload

from .errors import UnknownSymbol

if TYPE_CHECKING:
    from .models import ContractAttributes

_POWER = re.compile(r"^(?P<mult>10{3,})(?P<coin>[A-Za-z][A-Za-z0-9]*)$")
_MEGA = re.compile(r"^1M(?P<coin>[A-Z][A-Z0-9]*)$")
_KILO = re.compile(r"^k(?P<coin>[A-Z][A-Z0-9]*)$")


def split_prefixed(base: str) -> tuple[str, int]:
    """``"1000PEPE"`` -> ``("PEPE", 1000)``, ``"kBONK"`` -> ``("BONK", 1000)``,
    ``"1MBABYDOGE"`` -> ``("BABYDOGE", 1000000)``, ``"2Z"`` -> ``("2Z", 1)``. The coin is upper-case."""
    m = _POWER.match(base)
    if m:
        return m.group("coin").upper(), int(m.group("mult"))
    m = _MEGA.match(base)
    if m:
        return m.group("coin"), 1_000_000
    m = _KILO.match(base)
    if m:
        return m.group("coin"), 1000
    return base.upper(), 1


@overload
def canonical_price(price: Decimal, multiplier: Decimal) -> Decimal: ...
@overload
def canonical_price(price: None, multiplier: Decimal) -> None: ...
def canonical_price(price: Decimal | None, multiplier: Decimal) -> Decimal | None:
    """An exchange-unit price (USD per ``1000PEPE`` contract) -> USD per canonical unit (one
    PEPE), ``multiplier`` canonical units per exchange unit; None stays None (a leg with no
    price). The one conversion of prices to canonical units (:meth:`MarketRef.to_canonical_price`
    and the strategies' entry/exit prices)."""
    return None if price is None else price / multiplier


@dataclass(frozen=True)
class MarketRef:
    """One asset on one exchange. ``multiplier``: canonical units per exchange unit."""

    exchange: str
    symbol: str
    exchange_symbol: str
    market_id: str | None = None
    multiplier: Decimal = Decimal(1)

    def to_canonical_size(self, size: Decimal) -> Decimal:
        return size * self.multiplier

    def to_exchange_size(self, size: Decimal) -> Decimal:
        return size / self.multiplier

    def to_canonical_price(self, price: Decimal) -> Decimal:
        return canonical_price(price, self.multiplier)

    def to_exchange_price(self, price: Decimal) -> Decimal:
        return price * self.multiplier


MarketId = int | str


class SymbolMap:
    """One exchange's two-way map between canonical symbols (``"PEPE"``) and its perpetual
    markets: exchange market name (``"1000PEPEUSDT"``, ``"kPEPE-USD-PERP"``), market id where the
    exchange has one (Lighter's integer ``market_id``) and bundle multiplier (canonical units per
    exchange unit), filled from the exchange's catalog with :meth:`add`.

    Each exchange subclasses it in ``exchanges/<name>/symbols.py`` with only its naming rule:
    :meth:`split` (market name -> canonical symbol and multiplier, None for a name that is not one
    of its perpetuals), :meth:`rule_name` (canonical -> the name of an unlisted market) and
    :meth:`ccxt_name` (market name -> ccxt unified symbol).

    An unknown symbol gets the same answer on every exchange:

    * :meth:`name` and :meth:`symbol` answer from the catalog, else by the naming rule (so a feed
      works before any catalog is read); a name the rule cannot read raises
      :class:`~perpdex.errors.UnknownSymbol` (:meth:`find`: None);
    * :meth:`market_id` and :meth:`symbol_of_id` answer from the catalog only and raise
      :class:`~perpdex.errors.UnknownSymbol` (a ``KeyError`` too) for anything it does not list;
    * :meth:`multiplier` is 1 for an unlisted symbol (the rule's names carry no bundle prefix).
    """

    exchange: str = ""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # canonical -> exchange market name
        self.by_name: dict[str, str] = {}  # exchange market name -> canonical
        self.ids: dict[str, MarketId] = {}  # canonical -> market id (exchanges that have one)
        self.by_id: dict[MarketId, str] = {}  # market id -> canonical
        self.multipliers: dict[str, int] = {}  # canonical -> bundle size

    # -- the exchange's naming rule (subclasses) -----------------------------------------------------
    def split(self, name: str) -> tuple[str, int] | None:
        """Exchange market name -> (canonical symbol, multiplier); None when ``name`` is not a
        perpetual of this exchange."""
        raise NotImplementedError

    def rule_name(self, symbol: str) -> str:
        """Canonical symbol -> exchange market name by the naming rule alone (no bundle prefix)."""
        raise NotImplementedError

    def ccxt_name(self, name: str) -> str:
        """Exchange market name -> ccxt unified symbol."""
        raise NotImplementedError

    # -- the catalog ----------------------------------------------------------------------------------
    def add(self, name: str, market_id: MarketId | None = None) -> str | None:
        """Register one listed perpetual (``market_id`` where the exchange has ids); returns its
        canonical symbol, None (nothing registered) when the naming rule cannot read ``name``."""
        split = self.split(name)
        if split is None or not split[0]:
            return None
        canonical, mult = split
        self.names[canonical] = name
        self.by_name[name] = canonical
        self.multipliers[canonical] = mult
        if market_id is not None:
            self.ids[canonical] = market_id
            self.by_id[market_id] = canonical
        return canonical

    def name(self, symbol: str) -> str:
        """Canonical -> exchange market name: the listed one (``"PEPE"`` -> ``"1000PEPE"``), else
        :meth:`rule_name`."""
        return self.names.get(symbol) or self.rule_name(symbol)

    def symbol(self, name: str) -> str:
        """Exchange market name -> canonical: the listed one, else by :meth:`split`. Raises
        :class:`~perpdex.errors.UnknownSymbol` when ``name`` is not a perpetual of this exchange."""
        canonical = self.find(name)
        if canonical is None:
            raise UnknownSymbol(f"{name!r} is not a perpetual market", exchange=self.exchange)
        return canonical

    def find(self, name: str) -> str | None:
        """:meth:`symbol`, None instead of the error (a stream frame of a market nobody follows)."""
        canonical = self.by_name.get(name)
        if canonical is not None:
            return canonical
        split = self.split(name)
        return split[0] if split is not None and split[0] else None

    def listed(self, name: str) -> str | None:
        """Canonical symbol of a market name the catalog lists, None otherwise."""
        return self.by_name.get(name)

    def market_id(self, symbol: str) -> MarketId:
        """Canonical -> market id. Raises :class:`~perpdex.errors.UnknownSymbol` when not listed."""
        try:
            return self.ids[symbol]
        except KeyError:
            raise UnknownSymbol(f"{symbol} is not a listed market", exchange=self.exchange) from None

    def symbol_of_id(self, market_id: MarketId) -> str:
        """Market id -> canonical. Raises :class:`~perpdex.errors.UnknownSymbol` when not listed."""
        try:
            return self.by_id[market_id]
        except KeyError:
            raise UnknownSymbol(f"market id {market_id!r} is not listed", exchange=self.exchange) from None

    def multiplier(self, symbol: str) -> int:
        """Canonical units per exchange unit (``"PEPE"`` listed as ``1000PEPE``: 1000); 1 when unlisted."""
        return self.multipliers.get(symbol, 1)

    def ccxt_symbol(self, symbol: str) -> str:
        """Canonical -> ccxt unified symbol of :meth:`name`."""
        return self.ccxt_name(self.name(symbol))

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.names


class SymbolRegistry:
    """Canonical symbol -> exchange -> :class:`MarketRef`."""

    def __init__(self, refs: Iterable[MarketRef] = ()) -> None:
        self._by_symbol: dict[str, dict[str, MarketRef]] = {}
        for r in refs:
            self.add(r)

    @classmethod
    def from_contracts(cls, contracts: Iterable[ContractAttributes]) -> SymbolRegistry:
        """Registry of the active markets in exchange catalogs (``ExchangeClient.contracts``)."""
        return cls(MarketRef(c.exchange, c.symbol, c.contract_id, c.contract_id, c.multiplier)
                   for c in contracts if c.active)

    def add(self, ref: MarketRef) -> None:
        self._by_symbol.setdefault(ref.symbol, {})[ref.exchange] = ref

    def get(self, exchange: str, symbol: str) -> MarketRef | None:
        return self._by_symbol.get(symbol, {}).get(exchange)

    def exchanges(self, symbol: str) -> list[str]:
        return sorted(self._by_symbol.get(symbol, {}))

    def common(self, exchanges: Iterable[str]) -> set[str]:
        """Canonical symbols listed on every one of ``exchanges``."""
        wanted = set(exchanges)
        return {s for s, per in self._by_symbol.items() if wanted <= set(per)}

    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)
