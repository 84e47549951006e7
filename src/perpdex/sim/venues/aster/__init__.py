"""Aster's wire dialect for the emulator (protocol: docs/exchanges/aster.md)."""

from .emulator import AsterEmulator

__all__ = ["AsterEmulator"]
