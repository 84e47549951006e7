"""Backpack's wire dialect over the venue engine: public and signed private REST plus the
WebSocket API, close enough that unmodified ``ccxt.async_support.backpack`` /
``ccxt.pro.backpack`` 4.5.90 and the official ``bpx-py`` SDK work against it with only URLs
and a key pair changed (see :meth:`BackpackEmulator.endpoints`).

Protocol source: docs/exchanges/backpack.md (docs.backpack.exchange; ccxt 4.5.90 §7).

* Symbols: canonical ``"BTC"`` <-> ``"BTC_USDC_PERP"``; quote and collateral USDC.
* Auth (§5.1): headers ``X-API-Key`` (base64 ED25519 public key), ``X-Signature``,
  ``X-Timestamp`` (ms), ``X-Window`` (ms, default 5000, max 60000). The signature is verified
  over ``instruction=<op>&<sorted k=v>&timestamp=<ts>&window=<w>`` (booleans lowercase; raw or
  URL-encoded values both accepted, as clients differ). Missing headers -> 401 ``UNAUTHORIZED``;
  bad signature -> 401 ``INVALID_SIGNATURE``; stale/future timestamp or window > 60000 -> 400
  ``INVALID_CLIENT_REQUEST``. The engine account id is the API public key.
* Errors: ``{"code": "<ENUM>", "message": ...}``; payloads that do not parse (bad JSON, unknown
  symbol or enum, non-numeric fields) get Backpack's plain-text 400 parse error. Engine errors
  map by kind: invalid -> 400 ``INVALID_ORDER``, margin -> 400 ``INSUFFICIENT_MARGIN``,
  not_found -> 404 ``RESOURCE_NOT_FOUND``, reduce_only -> 400 ``INVALID_ORDER``, rejected ->
  400 ``INVALID_ORDER``.
* Leverage is account-wide (``PATCH /api/v1/account {"leverageLimit"}``): the engine's
  per-market leverage becomes ``min(limit, market max)`` for every market.
* Faults (``venue.faults``): ``http429`` -> 429 ``TOO_MANY_REQUESTS``; ``delay`` -> the next REST
  answer waits :attr:`BackpackEmulator.fault_delay` s; ``malformed`` -> the next stream frame for
  that symbol is truncated; ``drop`` -> every socket is closed; ``reject`` -> the engine rejects
  the next order; ``gap`` comes from the engine (a book event whose ``prev_seq`` skips one: the
  frame's ``U`` != previous ``u`` + 1); ``dup`` / ``user_drop`` duplicate / lose (closing the
  socket) the next ``orderFill`` frame. Engine liquidations / ADL carry origin ``O``
  ``LIQUIDATION_AUTOCLOSE`` / ``ADL_AUTOCLOSE`` and a fills-history ``systemOrderType``.
* Streams (§4, §6): ``depth.<sym>`` (and the ``200ms``/``600ms``/``1000ms`` variants, sent
  unbatched) with ``U``/``u`` = engine sequence numbers, ``bookTicker.<sym>`` (current BBO on
  subscribe, then on change), ``markPrice.<sym>`` and ``ticker.<sym>`` (every second),
  ``openInterest.<sym>``; private ``account.orderUpdate[.<sym>]``,
  ``account.positionUpdate[.<sym>]`` (signed SUBSCRIBE), ``account.rfqUpdate`` /
  ``account.balanceUpdate`` accepted silently. Timestamps ``E``/``T`` in microseconds. Each
  socket has its own bounded queue and writer task; the engine never waits on a client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .auth import DEFAULT_WINDOW_MS, SIM_API_KEY, SIM_SECRET
from .streams import _BackpackStreams


class BackpackEmulator(_BackpackStreams):
    """Serve one :class:`~perpdex.sim.engine.Venue` with Backpack's protocol (see module doc)."""

    # -- endpoints and inspection ----------------------------------------------------------------
    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """URLs, ccxt constructor options and perpdex credentials (all JSON-serializable).

        ``rest_url`` serves ``/api/v1/...`` and ``/wapi/v1/...``; ``ws_url`` is the one
        WebSocket endpoint (root path, public and private streams). ``ccxt`` works unchanged
        with ``ccxt.async_support.backpack(cfg)`` and ``ccxt.pro.backpack(cfg)``: ``apiKey`` =
        base64 ED25519 public key, ``secret`` = base64 seed (the doc's test-vector key pair),
        URL overrides, and ccxt's throttle off (the emulator has no rate limit). ``credentials`` are what
        :class:`~perpdex.exchanges.backpack.BackpackClient` takes (``api_key``, ``api_secret``)."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}"
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "apiKey": SIM_API_KEY,
                "secret": SIM_SECRET,
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {"recvWindow": str(DEFAULT_WINDOW_MS)},
                "urls": {"api": {"public": rest, "private": rest, "ws": {"public": ws, "private": ws}}},
            },
            "credentials": {"api_key": SIM_API_KEY, "api_secret": SIM_SECRET},
        }

    def subscriptions(self) -> list[list[str]]:
        """The stream names subscribed on each open WebSocket (for inspection)."""
        return [sorted(s.streams) for s in self._socks]

    # -- app --------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        public: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/api/v1/status": self._status, "/api/v1/ping": self._ping, "/api/v1/time": self._time,
            "/api/v1/assets": self._assets, "/api/v1/markets": self._markets, "/api/v1/market": self._market,
            "/api/v1/securities": self._securities, "/api/v1/ticker": self._ticker, "/api/v1/tickers": self._tickers,
            "/api/v1/depth": self._depth, "/api/v1/markPrices": self._mark_prices,
            "/api/v1/openInterest": self._open_interest, "/api/v1/fundingRates": self._funding_rates,
        }
        for path, fn in public.items():
            r.add_get(path, fn)
        r.add_get("/api/v1/markets/{symbol}", self._market)
        private: list[tuple[str, str, Callable[[str, dict[str, Any]], Awaitable[Any]]]] = [
            ("GET", "/api/v1/account", self._account), ("PATCH", "/api/v1/account", self._account_update),
            ("GET", "/api/v1/capital", self._capital), ("GET", "/api/v1/capital/collateral", self._collateral),
            ("GET", "/api/v1/order", self._order_query), ("POST", "/api/v1/order", self._order_execute),
            ("DELETE", "/api/v1/order", self._order_cancel), ("GET", "/api/v1/orders", self._open_orders),
            ("DELETE", "/api/v1/orders", self._cancel_all), ("GET", "/api/v1/position", self._positions),
            ("GET", "/wapi/v1/history/orders", self._order_history), ("GET", "/wapi/v1/history/fills", self._fills),
            ("GET", "/wapi/v1/history/funding", self._funding_history_private),
        ]
        for method, path, handler in private:
            r.add_route(method, path, self._private(method, path, handler))
        r.add_get("/", self._ws)
        r.add_get("/ws", self._ws)
        r.add_get("/stream", self._ws)
        return app
