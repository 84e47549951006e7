"""Aster's wire dialect over the venue engine: REST (public + signed V3 private) and WebSocket
(combined market streams + user-data stream), close enough to the real API that unmodified
``ccxt.async_support.aster`` / ``ccxt.pro.aster`` 4.5.90 trade against it with only URLs and a
private key changed (see :meth:`AsterEmulator.endpoints`).

Protocol source: docs/exchanges/aster.md (asterdex/api-docs V3; ccxt 4.5.90 behaviour, §7.5).

* Symbols: canonical ``"BTC"`` <-> ``"BTCUSDT"``; quote and margin asset USDT.
* Accounts: the engine account id is the lower-cased ``user`` address of a signed request.
* Auth: ``user``, ``signer``, ``nonce`` (µs, ±10 s window, last 100 per user, duplicates
  rejected with -4225) and ``signature`` (EIP-712 over the raw parameter string, verified when
  coincurve is installed; ``signer`` must equal ``user`` or be an approved agent,
  :meth:`AsterEmulator.approve_agent`). Missing or bad signature -> HTTP 401 ``-1022``.
* Errors: ``{"code": -NNNN, "msg": ...}`` with HTTP 4xx. Engine errors map by kind: invalid ->
  -2010 (after Aster's own pre-checks -4014 tick, -4023 step, -4004 min qty, -4164 min notional),
  margin -> -2019, not_found -> -2011 (cancel) / -2013 (query), reduce_only -> -2022,
  rejected -> -2010.
* Faults (``venue.faults``): ``http429`` -> HTTP 429 ``-1003``; ``delay`` -> the next REST answer
  waits :attr:`AsterEmulator.fault_delay` s; ``malformed`` -> the next market frame for that
  symbol is truncated; ``drop`` -> every market socket is closed; ``gap`` comes from the engine
  (a book event whose ``prev_seq`` skips one, visible as ``pu`` != previous ``u``); on the
  user-data stream ``dup`` sends the next fill frame twice and ``user_drop`` loses it and closes
  the socket. Engine liquidations / ADL come as ``ORDER_TRADE_UPDATE`` with type ``LIQUIDATION``
  (``x`` ``CALCULATED`` for liquidations) and client id ``autoclose-…`` / ``adl_autoclose-…``.
* Streams: ``<sym>@depth<N>[@100ms|@500ms]`` (N in 5/10/20; full top-N snapshot at the cadence,
  the first right after SUBSCRIBE), ``<sym>@depth[@100ms|@500ms]`` (diffs with U/u/pu, one per
  engine book change), ``<sym>@bookTicker`` (on top-of-book change), ``<sym>@markPrice[@1s]``.
  Every socket has its own bounded queue and writer task, so the engine never waits on a
  client; a socket whose queue overflows is closed (slow consumer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .auth import SIM_PRIVATE_KEY
from .streams import _AsterStreams


class AsterEmulator(_AsterStreams):
    """Serve one :class:`~perpdex.sim.engine.Venue` with Aster's protocol (see module doc)."""

    # -- endpoints --------------------------------------------------------------------------------
    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """URLs and the ccxt constructor options (JSON-serializable) for this emulator.

        ``rest_url`` serves ``/fapi/...`` and the spot ``/api/...`` catalog; ``ws_url`` is the
        stream base (``<ws_url>/stream`` combined market streams, ``<ws_url>/ws/<listenKey>``
        user data). ``ccxt`` works unchanged with ``ccxt.async_support.aster(cfg)`` and
        ``ccxt.pro.aster(cfg)``; ccxt's client-side throttle is off (the emulator has no rate limit)."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}/fstream"
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "privateKey": SIM_PRIVATE_KEY,
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {"defaultType": "swap", "builderFee": False,
                            "fetchOpenOrders": {"warnIfNoSymbol": False}},
                "urls": {"api": {
                    "fapiPublic": f"{rest}/fapi",
                    "fapiPrivate": f"{rest}/fapi",
                    "sapiPublic": f"{rest}/api",
                    "sapiPrivate": f"{rest}/api",
                    "ws": {"public": {"swap": f"{ws}/stream", "spot": f"{ws}/stream"},
                           "private": {"swap": f"{ws}/ws", "spot": f"{ws}/ws"}},
                }},
            },
        }

    # -- app --------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        public: dict[str, Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]] = {
            "ping": self._ping, "time": self._time, "exchangeInfo": self._exchange_info,
            "depth": self._depth, "ticker/bookTicker": self._book_ticker, "ticker/24hr": self._ticker_24h,
            "ticker/price": self._ticker_price, "premiumIndex": self._premium_index,
            "fundingInfo": self._funding_info, "fundingRate": self._funding_rate_history,
            "openInterest": self._open_interest,
        }
        for path, fn in public.items():
            for ver in ("v1", "v3"):
                r.add_get(f"/fapi/{ver}/{path}", self._public(fn))
        r.add_get("/api/v3/exchangeInfo", self._public(self._spot_exchange_info))
        r.add_get("/api/v1/exchangeInfo", self._public(self._spot_exchange_info))
        r.add_get("/api/v3/time", self._public(self._time))
        r.add_get("/api/v3/ping", self._public(self._ping))
        private = [
            ("POST", "order", self._new_order), ("DELETE", "order", self._cancel_order),
            ("GET", "order", self._query_order), ("GET", "openOrders", self._open_orders),
            ("DELETE", "allOpenOrders", self._cancel_all), ("GET", "positionRisk", self._position_risk),
            ("GET", "balance", self._balance), ("GET", "account", self._account),
            ("GET", "accountWithJoinMargin", self._account), ("POST", "leverage", self._set_leverage),
            ("GET", "leverageBracket", self._leverage_bracket), ("GET", "income", self._income),
            ("GET", "userTrades", self._user_trades), ("GET", "commissionRate", self._commission_rate),
            ("POST", "listenKey", self._listen_key_new), ("PUT", "listenKey", self._listen_key_keep),
            ("DELETE", "listenKey", self._listen_key_close), ("GET", "builder", self._builders),
            ("POST", "approveBuilder", self._approve_builder), ("POST", "noop", self._noop),
        ]
        for method, path, handler in private:
            r.add_route(method, f"/fapi/v3/{path}", self._private(handler, eip712=path != "approveBuilder"))
        for prefix in ("/fstream", ""):
            r.add_get(f"{prefix}/stream", self._ws_combined)
            r.add_get(f"{prefix}/ws", self._ws_combined)
            r.add_get(prefix + "/ws/{name}", self._ws_named)
        return app
