"""Paradex's wire dialect for the emulator, JSON and SBE (protocol: docs/exchanges/paradex.md)."""

from .emulator import ParadexEmulator

__all__ = ["ParadexEmulator"]
