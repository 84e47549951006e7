"""Aster's wire dialect for the emulator (protocol: docs/exchanges/aster.md): ``auth`` (the sim
key pair), ``base`` (errors, state, REST plumbing and auth, formatting), ``rest`` (REST routes),
``streams`` (WebSocket sessions and engine-event pushes), ``emulator`` (the app)."""

from .base import AsterApiError
from .emulator import AsterEmulator

__all__ = ["AsterApiError", "AsterEmulator"]
