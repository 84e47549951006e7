"""The one way tests wait for something to happen: poll a condition until it holds, and fail on
the state (naming what was awaited), never on a fixed sleep or a timing bound."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

#: generous: under a loaded CI machine a condition may take seconds; a healthy run returns at once
DEFAULT_TIMEOUT_S = 15.0


async def eventually(cond: Callable[[], bool | Awaitable[bool]], what: str = "condition", *,
                     timeout: float = DEFAULT_TIMEOUT_S, interval: float = 0.02) -> Any:
    """Poll ``cond`` (a plain or async callable) every ``interval`` seconds until it returns a
    truthy value, and return that value; raise AssertionError naming ``what`` after ``timeout``
    seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} never became true within {timeout:g}s")
        await asyncio.sleep(interval)
