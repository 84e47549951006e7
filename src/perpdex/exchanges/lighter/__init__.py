"""Lighter (zkLighter) perpetuals: native market data and funding, private operations via ccxt,
and the emulator's Lighter wire dialect. Protocol facts: ``shared/protocols/lighter.md``."""

from .emulator import LighterEmulator

__all__ = ["LighterEmulator"]
