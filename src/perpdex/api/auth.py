"""Who may read the API and the dashboard: loopback by default, a token otherwise.

* Without a token the app only listens on a loopback address (127.0.0.0/8, ::1, ``localhost``):
  :func:`check_bind` refuses any other address with one :class:`~perpdex.errors.ConfigError`.
* The token is ``$PERPDEX_API_TOKEN`` when set, else ``service.api_token`` (a ``SecretStr``; at
  least 16 characters). With a token every route (API, Server-Sent Events, the page, its static
  files, the OpenAPI docs) asks for it, whatever the address: an ``Authorization: Bearer
  <token>`` header, or the session cookie set by the ``/login`` form (HttpOnly,
  SameSite=Strict; its value is an HMAC of the token, not the token). ``/login`` itself is the
  one open route. Comparisons are constant-time (:func:`hmac.compare_digest`); the token is
  masked in logs and never part of an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr

from ..config import AppConfig
from ..errors import ConfigError
from ..secrets import mask_in_logs

ENV_TOKEN = "PERPDEX_API_TOKEN"
COOKIE = "perpdex_session"
LOGIN_PATH = "/login"
OPEN_PATHS = frozenset({LOGIN_PATH})
MIN_TOKEN_CHARS = 16


def resolve_token(cfg: AppConfig, environ: dict[str, str] | None = None) -> SecretStr | None:
    """The API token: ``$PERPDEX_API_TOKEN`` when set and not empty, else ``service.api_token``
    (None: no token). Raises :class:`ConfigError` naming ``PERPDEX_API_TOKEN`` when it is shorter
    than 16 characters."""
    env = (os.environ if environ is None else environ).get(ENV_TOKEN, "").strip()
    if env:
        if len(env) < MIN_TOKEN_CHARS:
            raise ConfigError(ENV_TOKEN, f"a token needs at least {MIN_TOKEN_CHARS} characters")
        token: SecretStr | None = SecretStr(env)
    else:
        token = cfg.service.api_token
    if token is not None:
        mask_in_logs(token.get_secret_value())
    return token


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1); False for any other
    address or host name (``0.0.0.0`` and ``::`` listen on every interface)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    """Refuse to listen on a non-loopback ``host`` without a token: raises :class:`ConfigError`
    (one line naming ``service.api_token`` and ``$PERPDEX_API_TOKEN``)."""
    if token is None and not is_loopback(host):
        raise ConfigError("service.api_token", f"refusing to listen on {host} (not loopback) without a token: "
                                               f"set ${ENV_TOKEN} or service.api_token")


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: HMAC-SHA256 of a fixed label under the token
    (hex), so the cookie never carries the token itself and changes when the token does."""
    return hmac.new(token.encode(), b"perpdex dashboard session v1", hashlib.sha256).hexdigest()


class TokenAuth:
    """ASGI middleware: a request without the token (bearer header or session cookie) gets 401
    (JSON, or a short HTML page pointing at ``/login`` for a browser), a WebSocket is closed
    (1008); ``/login`` and the lifespan pass."""

    def __init__(self, app: Callable[..., Any], token: SecretStr) -> None:
        self.app = app
        self._token = token.get_secret_value().encode()
        self._session = session_value(token.get_secret_value()).encode()

    def authorized(self, headers: dict[bytes, bytes]) -> bool:
        """Whether ``headers`` (lower-case names) carry the token or the session cookie."""
        scheme, _, credential = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token):
            return True
        raw = headers.get(b"cookie", b"").decode("latin-1")
        try:
            morsel = SimpleCookie(raw).get(COOKIE)
        except Exception:  # noqa: BLE001 - a malformed cookie header is no session
            morsel = None
        return morsel is not None and hmac.compare_digest(morsel.value.encode("latin-1"), self._session)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.lower(), v)
        if self.authorized(headers):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _unauthorized(headers).__call__(scope, receive, send)


def _unauthorized(headers: dict[bytes, bytes]) -> Response:
    extra = {"WWW-Authenticate": "Bearer"}
    if b"text/html" in headers.get(b"accept", b""):
        return HTMLResponse(_page("Login required", '<p>This perpdex dashboard needs its token. '
                                                   f'<a href="{LOGIN_PATH}">Log in</a>.</p>'), 401, headers=extra)
    return Response('{"detail":"missing or wrong API token: send Authorization: Bearer <token> or log in at /login"}',
                    401, headers=extra, media_type="application/json")


def _page(title: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>perpdex: " + title + "</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<style>body{font:15px system-ui,sans-serif;background:#0f1419;color:#d8dee4;display:flex;"
            "justify-content:center;padding-top:12vh}main{width:22rem}input,button{font:inherit;padding:.5rem;"
            "width:100%;box-sizing:border-box;margin:.4rem 0}button{cursor:pointer}.err{color:#ff7b72}"
            "a{color:#79c0ff}</style></head><body><main><h1>" + title + "</h1>" + body + "</main></body></html>")


def _login_form(error: str | None = None) -> str:
    msg = f'<p class="err">{error}</p>' if error else ""
    return _page("perpdex dashboard", msg + f'<form method="post" action="{LOGIN_PATH}">'
                 '<label for="token">API token</label>'
                 '<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>'
                 '<button type="submit">Log in</button></form>')


def login_router(token: SecretStr) -> APIRouter:
    """``GET /login`` (the form) and ``POST /login`` (form field ``token``: a 303 to ``/`` with the
    session cookie when it matches, 401 and the form again otherwise)."""
    router = APIRouter(include_in_schema=False)
    secret = token.get_secret_value().encode()
    session = session_value(token.get_secret_value())

    @router.get(LOGIN_PATH)
    async def login_form() -> HTMLResponse:
        return HTMLResponse(_login_form())

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        body = (await request.body())[:4096].decode("utf-8", "replace")
        given = (parse_qs(body).get("token") or [""])[0].strip().encode()
        if not hmac.compare_digest(given, secret):
            return HTMLResponse(_login_form("Wrong token."), 401)
        out = RedirectResponse("/", status_code=303)
        out.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/",
                       secure=request.url.scheme == "https")
        return out

    return router


def install(app: Any, token: SecretStr | None) -> None:
    """With ``token``: the login routes and :class:`TokenAuth` in front of every route of ``app``."""
    if token is None:
        return
    app.include_router(login_router(token))
    app.add_middleware(TokenAuth, token=token)
