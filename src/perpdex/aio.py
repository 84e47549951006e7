"""Small asyncio helpers shared by the feeds, user streams and emulators."""

from __future__ import annotations

import asyncio
import random


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True once ``event`` is set, False if ``timeout`` seconds pass first."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def cancel_and_wait(*tasks: asyncio.Task | None) -> None:
    """Cancel the given tasks (None entries ignored) and wait until each has ended; what they
    end with (cancellation or an error) is dropped: they are being stopped on purpose."""
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    for t in live:
        try:
            await t
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping on purpose
            pass


def jittered(seconds: float) -> float:
    """``seconds`` ±20 %, so that many clients backing off together do not retry in lockstep."""
    return seconds * random.uniform(0.8, 1.2)
