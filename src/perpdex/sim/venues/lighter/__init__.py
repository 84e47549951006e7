"""Lighter's wire dialect for the emulator (protocol: docs/exchanges/lighter.md)."""

from .emulator import LighterEmulator

__all__ = ["LighterEmulator"]
