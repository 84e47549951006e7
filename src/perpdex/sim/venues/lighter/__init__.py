"""Lighter's wire dialect for the emulator (protocol: docs/exchanges/lighter.md): ``base``
(errors, state, formatting, REST plumbing), ``rest`` (REST routes and transactions),
``streams`` (WebSocket sessions and engine-event pushes), ``emulator`` (the app)."""

from .base import LighterApiError
from .emulator import LighterEmulator

__all__ = ["LighterApiError", "LighterEmulator"]
