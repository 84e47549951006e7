"""The recording tap: a drop-in for the ``aiohttp.ClientSession`` under a market feed (and its
client's public REST calls) that passes everything through unchanged and hands each WebSocket
message and REST response, as received, to a :class:`~perpdex.recording.writer.Channel`.

The feed code does not change: ``client.use_session(RecordingSession(channel))`` before
``connect()``. Only what the feed reads is recorded (``async for msg in ws`` and
``await resp.read()``), with the receive time and the connection id.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from .writer import Channel


class RecordingSession:
    """Wraps ``session`` (or a new ``aiohttp.ClientSession(timeout=timeout s)``); ``ws_connect``
    and ``get`` behave as aiohttp's and record through ``channel``. :meth:`close` is idempotent
    (the feed and the client may both close it)."""

    def __init__(self, channel: Channel, session: aiohttp.ClientSession | None = None, timeout: float = 15.0) -> None:
        self.channel = channel
        self._inner = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    @property
    def closed(self) -> bool:
        return self._inner.closed

    def ws_connect(self, url: str, **kwargs: Any) -> _TapConnect:
        return _TapConnect(self, url, kwargs)

    def get(self, url: str, *, params: dict[str, Any] | None = None, **kwargs: Any) -> _TapGet:
        return _TapGet(self, url, params, kwargs)

    async def close(self) -> None:
        if not self._inner.closed:
            await self._inner.close()


class _TapConnect:
    def __init__(self, session: RecordingSession, url: str, kwargs: dict[str, Any]) -> None:
        self._s, self._url, self._kwargs = session, url, kwargs
        self._cm: Any = None
        self._conn = 0

    async def __aenter__(self) -> _TapWebSocket:
        self._cm = self._s._inner.ws_connect(self._url, **self._kwargs)
        ws = await self._cm.__aenter__()
        self._conn = self._s.channel.open(self._url)
        return _TapWebSocket(ws, self._s.channel, self._conn)

    async def __aexit__(self, *exc: Any) -> None:
        self._s.channel.close(self._conn)
        await self._cm.__aexit__(*exc)


class _TapWebSocket:
    """The live socket; every text or binary message read is recorded before it is returned."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, channel: Channel, conn: int) -> None:
        self._ws = ws
        self._record = channel.frame
        self.conn = conn

    def __getattr__(self, name: str) -> Any:  # send_str, close, closed, exception...
        return getattr(self._ws, name)

    def __aiter__(self) -> _TapWebSocket:
        return self

    async def __anext__(self) -> aiohttp.WSMessage:
        msg = await self._ws.__anext__()
        if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
            self._record(self.conn, msg.data)
        return msg


class _TapGet:
    def __init__(self, session: RecordingSession, url: str, params: dict[str, Any] | None,
                 kwargs: dict[str, Any]) -> None:
        self._s, self._url, self._params, self._kwargs = session, url, params, kwargs
        self._cm: Any = None

    async def __aenter__(self) -> _TapResponse:
        self._cm = self._s._inner.get(self._url, params=self._params, **self._kwargs)
        return _TapResponse(await self._cm.__aenter__(), self)

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


class _TapResponse:
    def __init__(self, resp: aiohttp.ClientResponse, req: _TapGet) -> None:
        self._resp, self._req = resp, req

    def __getattr__(self, name: str) -> Any:  # status, headers...
        return getattr(self._resp, name)

    async def read(self) -> bytes:
        body = await self._resp.read()
        self._req._s.channel.rest_response("GET", self._req._url, self._req._params, self._resp.status, body)
        return body
