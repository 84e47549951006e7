"""Paradex's wire dialect for the emulator, JSON and SBE (protocol: docs/exchanges/paradex.md):
``auth`` (the sim account's keys), ``sbe`` (SBE encoders), ``base`` (errors, state, REST
plumbing, auth and JWTs), ``rest`` (REST routes), ``streams`` (WebSocket sessions and
engine-event pushes), ``emulator`` (the app)."""

from .base import ParadexApiError
from .emulator import ParadexEmulator

__all__ = ["ParadexApiError", "ParadexEmulator"]
