"""Backpack's wire dialect for the emulator (protocol: docs/exchanges/backpack.md): ``auth`` (the
sim key pair and signing strings), ``base`` (errors, state, formatting, REST plumbing and auth),
``rest`` (REST routes), ``streams`` (WebSocket sessions and engine-event pushes), ``emulator``
(the app)."""

from .base import BackpackApiError
from .emulator import BackpackEmulator

__all__ = ["BackpackApiError", "BackpackEmulator"]
