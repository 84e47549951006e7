"""The API token (perpdex.api.auth): loopback only without one; with one, every route of the app
(API, Server-Sent Events, the page, its static files, the OpenAPI docs) answers 401 without it and
200 with it, by bearer header or by the /login form's cookie; the token never reaches a log line
or an answer. The app runs under uvicorn on a real loopback socket (the event stream never ends,
so it is read as a stream)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from starlette.routing import Mount

from perpdex.api import create_app
from perpdex.api import server as api_server
from perpdex.api.auth import COOKIE, ENV_TOKEN, check_bind, is_loopback, resolve_token, session_value
from perpdex.errors import ConfigError
from perpdex.storage import Store
from tests.api.conftest import make_config

TOKEN = "t0k3n-" + "Zq9xW4vR8sK2mP7n"  # 22 characters


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""):
        assert not is_loopback(host), host


def test_non_loopback_needs_a_token_and_the_env_wins(tmp_path):
    with pytest.raises(ConfigError, match=r"service\.api_token.*0\.0\.0\.0.*PERPDEX_API_TOKEN"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", SecretStr(TOKEN))
    check_bind("127.0.0.1", None)
    cfg = make_config(tmp_path, {"aster": {}}, service={"api_token": "from-the-config-file-0123"})
    assert resolve_token(cfg, {}).get_secret_value() == "from-the-config-file-0123"
    assert resolve_token(cfg, {ENV_TOKEN: TOKEN}).get_secret_value() == TOKEN
    with pytest.raises(ConfigError, match=ENV_TOKEN):
        resolve_token(cfg, {ENV_TOKEN: "short"})
    assert resolve_token(make_config(tmp_path, {"aster": {}}), {}) is None
    assert TOKEN not in repr(cfg) and "from-the-config-file" not in repr(cfg.service)


def _routes(app) -> list:
    """Every route of ``app``, the included routers' flattened (FastAPI >= 0.13x includes lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _paths(app) -> list[str]:
    """One GET path per route of the app (path parameters filled in; a file under each mount)."""
    out = []
    for r in _routes(app):
        if isinstance(getattr(r, "original_route", r), Mount):
            out.append(r.path + "/dashboard.js")
        elif "GET" in (r.methods or ()):
            out.append(re.sub(r"\{[^}]+\}", "BTC", r.path))
    return out


@contextlib.asynccontextmanager
async def served(cfg) -> AsyncIterator[tuple[str, object]]:
    store = Store(cfg.storage.url)
    await store.init()
    app = create_app(cfg, store=store, collect=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = api_server.ApiServer(api_server.config(app, host="127.0.0.1", port=port), embedded=True)
    task = asyncio.create_task(server.serve(sockets=[api_server.listen_socket("127.0.0.1", port)]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        await store.close()


async def _get(client: httpx.AsyncClient, path: str, **kw) -> httpx.Response:
    """GET ``path``; an event stream is read up to its first message and closed."""
    async with client.stream("GET", path, **kw) as r:
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            async for line in r.aiter_lines():
                if line.startswith("retry:"):
                    break
        else:
            await r.aread()
        return r


async def test_every_route_needs_the_token(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    cfg = make_config(tmp_path, {"aster": {}, "lighter": {}}, service={"api_token": TOKEN})
    for name in ("perpdex", "uvicorn", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with served(cfg) as (base, app):
        paths = _paths(app)
        # every route the app has, so none is forgotten: the API, the dashboard's, the page, static, docs
        for p in ("/", "/health", "/opportunities", "/api/live/positions", "/api/live/stream",
                  "/static/dashboard.js", "/openapi.json", "/docs"):
            assert p in paths, p
        assert "/login" in paths  # the one open route: the way in
        bodies: list[str] = []
        async with httpx.AsyncClient(base_url=base, timeout=20) as c:
            for path in paths:
                if path == "/login":
                    continue
                r = await _get(c, path)
                assert r.status_code == 401, path
                assert r.headers["www-authenticate"] == "Bearer"
                assert (await _get(c, path, headers={"Authorization": "Bearer wrong-token-0123456789"})).status_code == 401
                assert (await _get(c, path, headers={"Authorization": TOKEN})).status_code == 401  # no scheme
                assert (await _get(c, path, cookies={COOKIE: TOKEN})).status_code == 401  # the token is not the cookie
                ok = await _get(c, path, headers={"Authorization": f"Bearer {TOKEN}"})
                assert ok.status_code == 200, (path, ok.status_code)
                if not path.startswith("/api/live/stream"):
                    bodies.append(ok.text)
            # a browser asking for the page without the token is pointed at the login form
            page = await c.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 401 and 'href="/login"' in page.text
            form = await c.get("/login")
            assert form.status_code == 200 and 'name="token"' in form.text

            bad = await c.post("/login", data={"token": "not-the-token-0123456789"})
            assert bad.status_code == 401 and COOKIE not in bad.headers.get("set-cookie", "")
            good = await c.post("/login", data={"token": TOKEN})
            assert good.status_code == 303 and good.headers["location"] == "/"
            cookie = good.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
            assert TOKEN not in cookie and session_value(TOKEN) in cookie
        # a fresh client with only the cookie (as the browser after the form)
        async with httpx.AsyncClient(base_url=base, timeout=20, cookies={COOKIE: session_value(TOKEN)}) as c:
            for path in paths:
                if path != "/login":
                    assert (await _get(c, path)).status_code == 200, path
    assert all(TOKEN not in b for b in bodies)
    assert TOKEN not in caplog.text


async def test_without_a_token_nothing_is_asked_on_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    cfg = make_config(tmp_path, {"aster": {}})
    async with served(cfg) as (base, app):
        assert "/login" not in _paths(app)
        async with httpx.AsyncClient(base_url=base, timeout=20) as c:
            for path in _paths(app):
                assert (await _get(c, path)).status_code == 200, path
