"""Aster (asterdex.com) perpetuals: native market data, funding adapter, ccxt-backed private
operations, and the emulator dialect. Protocol reference: shared/protocols/aster.md."""

from .emulator import AsterEmulator

__all__ = ["AsterEmulator"]
