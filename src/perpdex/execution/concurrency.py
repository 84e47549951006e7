"""Concurrency helper shared by the pre-flight checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def gather_strict(*aws: Awaitable[Any]) -> list[Any]:
    """Run every awaitable to its end (none is left running in the background), then raise the
    first error in argument order, else return the results in order."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return list(results)
