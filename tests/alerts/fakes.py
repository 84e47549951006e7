"""Real HTTP receivers on loopback for the alert tests: a fake Telegram Bot API and a fake webhook
receiver (aiohttp web servers on free ports).

Both record every request they get (``attempts``) and every message they accept (``messages``).
``script`` holds what to do with the next requests, one entry per request, then accept: ``500``
(answer an error), ``429`` (rate limited, asking to wait ``retry_after`` s), ``"hang"`` (keep the
request open ``hang_s`` seconds before answering 200, past the client's timeout). ``always`` is
the behaviour after the script runs out (None: accept).

The fake Telegram API checks what the real one would: the bot token in the path, a JSON body
with ``chat_id`` and ``text``, a known ``parse_mode``, and HTML that parses (answering 400
``can't parse entities`` otherwise); its answers have the Bot API's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                 "span", "blockquote"}


_TAG = re.compile(r"<(/?)([a-z-]+)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_html_error(text: str) -> str | None:
    """Why the Bot API would refuse ``text`` as HTML (its rules: supported tags only, properly
    nested; every other ``<``, ``>`` and ``&`` written as an entity), or None."""
    stack: list[str] = []
    for m in _TAG.finditer(text):
        closing, tag = m.group(1) == "/", m.group(2)
        if tag not in TELEGRAM_TAGS:
            return f"unsupported tag \"{tag}\""
        if not closing:
            stack.append(tag)
        elif not stack or stack.pop() != tag:
            return f"unexpected end tag \"{tag}\""
    if stack:
        return f"unclosed tag \"{stack[-1]}\""
    rest = _ENTITY.sub("", _TAG.sub("", text))
    for ch in "<>&":
        if ch in rest:
            return f"can't parse entities: bare {ch!r}"
    return None


@dataclass
class Receiver:
    """A recording HTTP receiver (see the module doc)."""

    script: list[Any] = field(default_factory=list)
    always: Any = None
    hang_s: float = 5.0
    retry_after: float = 0.2
    attempts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def next_action(self) -> Any:
        return self.script.pop(0) if self.script else self.always

    async def start(self) -> Receiver:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def routes(self, app: web.Application) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def act(self, action: Any) -> web.Response | None:
        """The scripted answer for ``action``, or None to accept."""
        if action == "hang":
            await asyncio.sleep(self.hang_s)
            return None
        if action == 500:
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        if action == 429:
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry later",
                                      "parameters": {"retry_after": self.retry_after}, "retry_after": self.retry_after},
                                     status=429, headers={"Retry-After": str(self.retry_after)})
        return None

    async def wait_for(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Until ``n`` messages were accepted (asserts within ``timeout`` s); the messages."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {n} messages: {self.messages}"
            await asyncio.sleep(0.02)
        return self.messages


@dataclass
class FakeTelegram(Receiver):
    """``POST /bot<token>/sendMessage`` as the Bot API answers it (see the module doc)."""

    token: str = "123456:TEST-token-abcdef"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/sendMessage", self.send_message)

    async def send_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.attempts.append(body)
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        answer = await self.act(self.next_action())
        if answer is not None:
            return answer
        if not body.get("chat_id") or not body.get("text"):
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
                                     status=400)
        if body.get("parse_mode") not in (None, "HTML", "MarkdownV2", "Markdown"):
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: unsupported parse_mode"},
                                     status=400)
        if body.get("parse_mode") == "HTML":
            err = telegram_html_error(body["text"])
            if err is not None:
                return web.json_response({"ok": False, "error_code": 400,
                                          "description": f"Bad Request: can't parse entities: {err}"}, status=400)
        if len(body["text"]) > 4096:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: message is too long"},
                                     status=400)
        self.messages.append(body)
        return web.json_response({"ok": True, "result": {"message_id": len(self.messages), "date": int(time.time()),
                                                         "chat": {"id": body["chat_id"]}, "text": body["text"]}})


@dataclass
class FakeWebhook(Receiver):
    """``POST /hooks/<key>``: any JSON body accepted with 204 (as Discord answers)."""

    key: str = "T000/B000/secret-hook-key-0123"

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/{self.key}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{key:.*}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.attempts.append(body)
        if request.match_info["key"] != self.key:
            return web.json_response({"message": "Unknown Webhook"}, status=404)
        answer = await self.act(self.next_action())
        if answer is not None:
            return answer
        self.messages.append(body)
        return web.Response(status=204)


@contextlib.contextmanager
def receivers_in_thread(*receivers: Receiver) -> Iterator[tuple[Receiver, ...]]:
    """Start ``receivers`` on an event loop of their own thread (for the CLI through typer's
    runner, which runs its own loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="receivers", daemon=True)
    thread.start()
    for r in receivers:
        asyncio.run_coroutine_threadsafe(r.start(), loop).result(10)
    try:
        yield receivers
    finally:
        for r in receivers:
            asyncio.run_coroutine_threadsafe(r.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
