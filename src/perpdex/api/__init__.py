"""The HTTP API of ``perpdex serve`` (FastAPI): see :mod:`perpdex.api.app`."""

from .app import create_app

__all__ = ["create_app"]
