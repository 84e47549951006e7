"""Lighter's wire dialect over the venue-agnostic engine (:class:`perpdex.sim.engine.Venue`).

Serves the REST API under ``/api/v1/`` and the WebSocket ``/stream`` as described in
``docs/exchanges/lighter.md`` closely enough that unmodified ccxt 4.5.90
(``async_support.lighter`` and ``pro.lighter``) and our native client trade against it:

* market ids come from the scenario's ``market_id``; ``price_decimals``/``size_decimals`` from
  the tick and lot; margin fractions in units of 0.01 % from the max leverage;
* ``POST /api/v1/sendTx`` takes form fields (urlencoded **or** multipart) ``tx_type`` and
  ``tx_info`` (signed JSON; integers scaled by the market decimals; signatures are not checked);
  tx types 14 create, 15 cancel, 16 cancel all, 17 modify, 20 update leverage, and 8 / 45
  (key registration / integrator approval, accepted as no-ops);
* ``order_book/<id>``: a full snapshot, then deltas batched every 50 ms with ``offset``,
  ``nonce`` and ``begin_nonce`` == the previous ``nonce`` (an engine gap breaks that chain);
* funding: the scenario's Lighter rates are fractions per 1 h interval; ``market_stats`` quotes
  them in **percent per hour** (4 decimals), ``funding-rates`` as a **fraction per 8 h**.

Engine accounts are keyed by ``str(account_index)``; engine order ``n`` is Lighter order index
``2**48 + n``. Engine ``SimError`` kinds map to Lighter codes (:data:`ERROR_CODES`).
Faults: ``http429`` -> HTTP 429 code 23000, ``delay`` -> the next REST answer waits 1 s,
``malformed`` -> a truncated ``order_book`` frame, ``drop`` -> every socket is closed,
``stall`` -> every socket's frames are held back for 2 s (then delivered in order); on the
account channels ``dup`` sends the next ``account_all_trades`` fill frame twice and ``user_drop``
loses it and closes the socket. Private channels: ``account_all_orders``, ``account_all_trades``,
``account_all_positions``, ``notification`` (liquidation / deleverage items for engine system
fills, whose trades carry ``type`` liquidation / deleverage), ``user_stats``, ``account_all``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ....exchanges.lighter.signer import SIM_ACCOUNT_INDEX, SIM_API_KEY_INDEX, SIM_API_PRIVATE_KEY, find_signer_library
from .base import EXCHANGE
from .streams import _LighterStreams

log = logging.getLogger(__name__)


class LighterEmulator(_LighterStreams):
    """Lighter's REST + WebSocket protocol over one :class:`Venue` (see module docstring)."""

    # -- wiring -----------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """The aiohttp application: REST under ``/api/v1/``, ``GET /``, ``GET /info`` and the
        WebSocket ``/stream``."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        get = {
            "orderBookDetails": self._order_book_details,
            "orderBooks": self._order_books,
            "assetDetails": self._asset_details,
            "orderBookOrders": self._order_book_orders,
            "funding-rates": self._funding_rates,
            "fundings": self._fundings,
            "exchangeStats": self._exchange_stats,
            "recentTrades": self._recent_trades,
            "account": self._account,
            "accountsByL1Address": self._accounts_by_l1,
            "accountLimits": self._account_limits,
            "accountActiveOrders": self._active_orders,
            "accountInactiveOrders": self._inactive_orders,
            "accountOrders": self._account_orders,
            "trades": self._trades,
            "positionFunding": self._position_funding,
            "nextNonce": self._next_nonce,
            "apikeys": self._apikeys,
        }
        app.router.add_get("/", self._wrap(self._status))
        app.router.add_get("/info", self._wrap(self._info))
        for path, fn in get.items():
            app.router.add_get(f"/api/v1/{path}", self._wrap(fn))
        app.router.add_post("/api/v1/sendTx", self._wrap(self._send_tx))
        app.router.add_post("/api/v1/sendTxBatch", self._wrap(self._send_tx_batch))
        app.router.add_get("/stream", self._ws_handler)
        app.router.add_route("*", "/api/v1/{tail:.*}", self._wrap(self._unknown))
        app.on_startup.append(self._start_pump_on_startup)
        return app

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """``{"rest_url", "ws_url", "ccxt", "credentials"}``. ``ccxt`` is the constructor config
        with which unmodified ``ccxt.async_support.lighter``/``ccxt.pro.lighter`` trade here
        (Flow A of protocol doc §7.2: pre-seeded API key, no L1 key); ``credentials`` is the same
        account for :class:`LighterClient` (``account_index``, ``api_key_index``,
        ``api_private_key``). The key is a sim-only key."""
        rest = f"http://{host}:{port}"
        ws = f"ws://{host}:{port}/stream"
        acct, idx = str(SIM_ACCOUNT_INDEX), str(SIM_API_KEY_INDEX)
        try:
            library: str | None = find_signer_library()
        except RuntimeError as exc:
            log.warning("%s emulator: %s; ccxt cannot sign against it", EXCHANGE, exc)
            library = None
        return {
            "rest_url": rest,
            "ws_url": ws,
            "ccxt": {
                "urls": {"api": {"root": rest, "public": rest, "private": rest, "ws": ws}},
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "options": {
                    "accountIndex": SIM_ACCOUNT_INDEX,
                    "apiKeyIndex": SIM_API_KEY_INDEX,
                    # absent when lighter-sdk is missing: the client then refuses at connect with the fix
                    **({"libraryPath": library} if library else {}),
                    "builderFee": False,
                    "chainId": 304,
                    "auths": {acct: {idx: {"signer": None, "lighterPrivateKey": SIM_API_PRIVATE_KEY,
                                           "deadline": None, "token": None}}},
                },
            },
            "credentials": {
                "account_index": SIM_ACCOUNT_INDEX,
                "api_key_index": SIM_API_KEY_INDEX,
                "api_private_key": SIM_API_PRIVATE_KEY,
            },
        }
