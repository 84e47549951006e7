"""Backpack's wire dialect for the emulator (protocol: docs/exchanges/backpack.md)."""

from .emulator import BackpackEmulator

__all__ = ["BackpackEmulator"]
