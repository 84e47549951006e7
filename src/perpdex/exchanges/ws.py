"""The WebSocket read loop shared by the market-data feeds and the user-data streams."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp

_END = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def ws_payloads(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[bytes]:
    """The payload of every text (UTF-8 encoded) or binary message, until the socket closes or
    fails; control messages (ping/pong, answered by aiohttp) are skipped."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            yield msg.data.encode()
        elif msg.type == aiohttp.WSMsgType.BINARY:
            yield msg.data
        elif msg.type in _END:
            return
