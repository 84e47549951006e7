"""``exchanges/http.py``: rate-limit budgets (token bucket, back-off on 429 storms, recovery) and
the shared REST client :class:`RestClient` with each exchange's ``rest.py`` (error mapping per
status and per code, one attempt per request with the budget backing off, the signing hook,
decoding, sessions), against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.errors import AuthenticationError, ExchangeError, MarketNotFound, NetworkError, RateLimited
from perpdex.exchanges import registry
from perpdex.exchanges.aster.rest import AsterRest
from perpdex.exchanges.backpack.rest import BackpackRest
from perpdex.exchanges.http import RateBudget, RestClient, budget_for
from perpdex.exchanges.lighter.rest import LighterRest
from perpdex.exchanges.paradex.rest import ParadexRest


async def test_token_bucket_spaces_requests_beyond_the_burst():
    b = RateBudget("x", rate=50, burst=5)
    t0 = time.monotonic()
    for _ in range(15):
        await b.acquire()
    # 5 at once, then 10 more at 50/s: at least ~0.2 s; waits were counted
    assert time.monotonic() - t0 >= 0.18 and b.waits > 0


async def test_backoff_doubles_on_consecutive_rate_limits_and_resets_on_success():
    b = RateBudget("x", rate=1000, burst=1000, base_backoff=0.05, max_backoff=1.0)
    first = b.rate_limited()
    second = b.rate_limited()
    third = b.rate_limited()
    assert 0.04 <= first <= 0.06 and 0.08 <= second <= 0.12 and 0.16 <= third <= 0.24
    t0 = time.monotonic()
    await b.acquire()  # waits out the back-off
    assert time.monotonic() - t0 >= 0.1
    b.succeeded()
    assert 0.04 <= b.rate_limited() <= 0.06  # a new streak starts small
    with pytest.raises(ValueError):
        RateBudget("x", rate=0, burst=1)


@pytest.mark.parametrize("exchange", registry.names())
async def test_a_429_storm_slows_funding_collection_down_and_it_recovers(exchange, tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {exchange: {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        adapter = rt.adapters[exchange]
        budget = budget_for(exchange)
        before = budget.rate_limited_count
        rt.cluster.sim.venue(exchange).faults.inject("http429", count=3)
        failures = 0
        for _ in range(6):
            try:
                rates = await adapter.fetch_funding_rates()
                break
            except RateLimited:
                failures += 1
        else:
            pytest.fail("never recovered from the 429 storm")
        # every injected 429 was seen by the budget (and backed off), and the adapter recovered
        assert failures >= 1 and budget.rate_limited_count - before == 3
        assert len(rates) >= 8
        await asyncio.sleep(0)


# -- the shared REST client ------------------------------------------------------------------------
@dataclass
class Answers:
    """What the server answers per path (status, body), and every request it got."""

    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[web.Request] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Answers]]:
    answers = Answers()

    async def handle(request: web.Request) -> web.Response:
        answers.requests.append(request)
        answers.headers.append(dict(request.headers))
        status, body = answers.routes.get(request.path, (404, b"no route"))
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", answers
    finally:
        await runner.cleanup()


class Demo(RestClient, exchange="demo", base_url="http://127.0.0.1:9", rate=1000, burst=1000,
           rate_limit_codes=(7,), not_found_codes=(9,), auth_codes=(3,)):
    """A test exchange: code 7 is a rate limit, code 9 an unknown market, code 3 bad credentials."""

    def decode_error(self, status: int, body: bytes) -> tuple[Any, str]:
        err = json.loads(body)
        return err["code"], err["msg"]


class Row(msgspec.Struct):
    price: float
    name: str


def _err(code: Any, msg: str) -> bytes:
    return json.dumps({"code": code, "msg": msg}).encode()


@pytest.mark.parametrize("status, body, cls, code", [
    (429, b"slow down", RateLimited, 429),  # a non-JSON page: the status is the code
    (400, _err(7, "too many"), RateLimited, 7),
    (401, _err(1, "who are you"), AuthenticationError, 1),
    (403, _err(3, "bad key"), AuthenticationError, 3),
    (400, _err(9, "no such market"), MarketNotFound, 9),
    (400, _err(5, "bad param"), ExchangeError, 5),
    (503, b"<html>down</html>", ExchangeError, 503),
])
async def test_error_answers_map_to_typed_errors(server, monkeypatch, status, body, cls, code):
    url, answers = server
    monkeypatch.setattr(Demo.budget, "base_backoff", 0.001)
    answers.routes["/x"] = (status, body)
    rest = Demo(url)
    try:
        with pytest.raises(ExchangeError) as info:
            await rest.get("/x", {"a": 1})
    finally:
        await rest.close()
    err = info.value
    assert type(err) is cls and err.exchange == "demo" and err.code == code
    assert str(err).startswith(f"[demo] GET {url}/x: HTTP {status} code {code}: ")


async def test_transport_failure_is_a_network_error():
    rest = Demo("http://127.0.0.1:9")  # nothing listens on port 9
    try:
        with pytest.raises(NetworkError, match=r"^\[demo\] GET http://127\.0\.0\.1:9/x: "):
            await rest.get("/x")
    finally:
        await rest.close()


async def test_body_raw_or_decoded_and_a_bad_answer_names_the_field(server):
    url, answers = server
    answers.routes["/rows"] = (200, b'[{"price": "1.5", "name": "a"}]')
    answers.routes["/bad"] = (200, b'[{"price": 1.5}]')
    rest = Demo(url)
    try:
        assert await rest.get("/rows") == b'[{"price": "1.5", "name": "a"}]'
        assert await rest.get("/rows", into=list[Row]) == [Row(1.5, "a")]  # lax: "1.5" into a float
        assert await rest.get("/rows", into=msgspec.json.Decoder(list[Row], strict=False)) == [Row(1.5, "a")]
        with pytest.raises(ExchangeError, match=r"GET http://127\.0\.0\.1:\d+/bad: unexpected answer .*name"):
            await rest.get("/bad", into=list[Row])
    finally:
        await rest.close()


async def test_a_rate_limited_request_is_sent_once_and_the_budget_backs_off(server, monkeypatch):
    url, answers = server
    monkeypatch.setattr(Demo.budget, "base_backoff", 0.001)
    monkeypatch.setattr(Demo.budget, "max_backoff", 0.002)
    answers.routes["/x"] = (429, _err(7, "too many"))
    answers.routes["/ok"] = (200, b"{}")
    rest = Demo(url)
    before = Demo.budget.rate_limited_count
    try:
        with pytest.raises(RateLimited):
            await rest.get("/x")
        assert len(answers.requests) == 1  # never retried here: the caller's next cycle is the retry
        assert Demo.budget.rate_limited_count == before + 1 and Demo.budget._strikes == 1
        assert await rest.get("/ok") == b"{}"
        assert Demo.budget._strikes == 0  # a success ends the streak
    finally:
        await rest.close()


async def test_signing_hook_signs_only_signed_requests(server):
    url, answers = server
    answers.routes["/private"] = (200, b"{}")
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def sign(method: str, path: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        calls.append((method, path, dict(params)))
        params["signature"] = "sig"
        headers["X-Key"] = "key"

    rest = Demo(url, sign=sign)
    unsigned = Demo(url)
    try:
        await rest.get("/private", {"a": "1"}, signed=True)
        await rest.get("/private", {"a": "2"})
        with pytest.raises(AuthenticationError, match="no request signer"):
            await unsigned.get("/private", signed=True)
    finally:
        await rest.close()
        await unsigned.close()
    assert calls == [("GET", "/private", {"a": "1"})]
    first, second = answers.requests
    assert dict(first.query) == {"a": "1", "signature": "sig"} and answers.headers[0]["X-Key"] == "key"
    assert dict(second.query) == {"a": "2"} and "X-Key" not in answers.headers[1]
    assert len(answers.requests) == 2  # the unsigned client sent nothing


async def test_sessions_given_provided_or_owned(server):
    url, answers = server
    answers.routes["/x"] = (200, b"1")
    async with aiohttp.ClientSession() as given:
        rest = Demo(url, session=given)
        assert await rest.get("/x") == b"1"
        await rest.close()
        assert not given.closed  # the caller's session stays open
        provided = Demo(url, session_of=lambda: given)
        assert await provided.get("/x") == b"1"
        await provided.close()
        assert not given.closed
        owned = Demo(url)
        assert await owned.get("/x") == b"1"
        owned.use_session(given)
        assert await owned.get("/x") == b"1"
        await owned.close()
        assert not given.closed
    assert len(answers.requests) == 4


@pytest.mark.parametrize("cls, status, body, expected, code", [
    (AsterRest, 418, _err(-1003, "banned"), RateLimited, -1003),
    (AsterRest, 400, _err(-1003, "too many"), RateLimited, -1003),
    (AsterRest, 400, _err(-1121, "Invalid symbol."), MarketNotFound, -1121),
    (AsterRest, 400, _err(-2019, "Margin is insufficient."), ExchangeError, -2019),
    (LighterRest, 400, b'{"code": 23000, "message": "too many requests"}', RateLimited, 23000),
    (LighterRest, 400, b'{"code": 21100, "message": "invalid market"}', ExchangeError, 21100),
    (ParadexRest, 401, b'{"error": "INVALID_TOKEN", "message": "expired"}', AuthenticationError, "INVALID_TOKEN"),
    (ParadexRest, 429, b'{"error": "", "message": "slow"}', RateLimited, "429"),
    (ParadexRest, 404, b'{"error": "NOT_FOUND", "message": "no market"}', ExchangeError, "NOT_FOUND"),
    (BackpackRest, 400, b'{"code": "TOO_MANY_REQUESTS", "message": "slow"}', RateLimited, "TOO_MANY_REQUESTS"),
    (BackpackRest, 400, b'{"code": "INVALID_MARKET", "message": "no"}', ExchangeError, "INVALID_MARKET"),
    (BackpackRest, 400, b"parse error", ExchangeError, 400),
])
async def test_each_exchange_reads_its_error_bodies(server, monkeypatch, cls, status, body, expected, code):
    url, answers = server
    monkeypatch.setattr(cls, "budget", RateBudget(cls.exchange, rate=1000, burst=1000, base_backoff=0.001))
    answers.routes["/e"] = (status, body)
    rest = cls(url)
    try:
        with pytest.raises(ExchangeError) as info:
            await rest.get("/e")
    finally:
        await rest.close()
    assert type(info.value) is expected and info.value.code == code and info.value.exchange == cls.exchange
