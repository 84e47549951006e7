"""Exchange name -> (client class, funding adapter class). Adding an exchange = one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import ExchangeClient


@dataclass(frozen=True)
class ExchangeEntry:
    module: str  # package below perpdex.exchanges
    client: str
    funding: str


_REGISTRY: dict[str, ExchangeEntry] = {
    "aster": ExchangeEntry("aster", "AsterClient", "AsterFundingAdapter"),
    "lighter": ExchangeEntry("lighter", "LighterClient", "LighterFundingAdapter"),
    "backpack": ExchangeEntry("backpack", "BackpackClient", "BackpackFundingAdapter"),
    "paradex": ExchangeEntry("paradex", "ParadexClient", "ParadexFundingAdapter"),
}


def names() -> list[str]:
    return list(_REGISTRY)


def _load(name: str, attr: str) -> type:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError("exchanges", f"unknown exchange '{name}' (known: {', '.join(_REGISTRY)})")
    mod = importlib.import_module(f"perpdex.exchanges.{entry.module}")
    return getattr(mod, getattr(entry, attr))


def client_class(name: str) -> type[ExchangeClient]:
    return cast("type[ExchangeClient]", _load(name, "client"))


def funding_class(name: str) -> type:
    return _load(name, "funding")
