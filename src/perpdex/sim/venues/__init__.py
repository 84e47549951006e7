"""The emulated venues: one package per exchange (``perpdex.sim.venues.<name>``) speaking that
exchange's wire dialect over the shared engine, and the name -> emulator class table the
emulator server starts them from.

A venue's package is imported only when its emulator class is asked for. The names are the
exchanges of :mod:`perpdex.exchanges.registry` (a test checks that the two lists agree)."""

from __future__ import annotations

import importlib

from ...errors import ConfigError

# exchange name -> emulator class exported by perpdex.sim.venues.<name>
_EMULATORS: dict[str, str] = {
    "aster": "AsterEmulator",
    "lighter": "LighterEmulator",
    "backpack": "BackpackEmulator",
    "paradex": "ParadexEmulator",
}


def names() -> list[str]:
    """The exchanges that have an emulator, in registry order."""
    return list(_EMULATORS)


def emulator_class(name: str) -> type:
    """The emulator class of exchange ``name`` (its constructor takes a
    :class:`~perpdex.sim.engine.Venue`). Raises :class:`~perpdex.errors.ConfigError` for a name
    without an emulator."""
    cls = _EMULATORS.get(name)
    if cls is None:
        raise ConfigError("exchanges", f"unknown exchange '{name}' (known: {', '.join(_EMULATORS)})")
    return getattr(importlib.import_module(f"{__name__}.{name}"), cls)
