"""Paradex's wire dialect over the venue-agnostic engine (:class:`perpdex.sim.engine.Venue`).

Serves REST under ``/v1/`` and the JSON-RPC WebSocket at ``/v1`` as described in
``docs/exchanges/paradex.md``, closely enough that unmodified ccxt 4.5.90
(``async_support.paradex`` and ``pro.paradex``) and our native client trade against it:

* markets ``BASE-USD-PERP`` (``k`` prefix for 1 000-token bundles), ``max leverage = 1/imf_base``;
* ``POST /v1/auth`` (and ``/v1/auth/{pubkey}``) checks the Starknet-signed headers — the
  ``Request`` typed-data signature is verified with the fast Stark ECDSA of
  :mod:`.signer` against the public key registered for the account (the sim account, or one
  onboarded with ``POST /v1/onboarding``) — and issues a real HS256 JWT with ``exp``
  (:data:`JWT_LIFETIME_S`); private REST takes ``Authorization: Bearer <jwt>``;
* ``POST /v1/orders`` verifies the ``Order`` signature (``INVALID_ORDER_SIGNATURE`` otherwise),
  answers ``NEW``; the engine matches synchronously, so a fetch shows the result;
* WebSocket (``/v1``; ``?sbeSchemaId=1&sbeSchemaVersion=0..3`` switches the **public** channel
  data to SBE binary, anything else is refused with HTTP 400): ``auth``, ``subscribe``,
  ``unsubscribe``; channels ``bbo.<m>``, ``order_book.<m>.snapshot@15@<rate>`` (a full 15-level
  snapshot per refresh), ``order_book.<m>.deltas`` (a full-depth snapshot, then one delta per
  engine book event with ``seq_no`` = previous + 1; an engine gap skips one), ``trades.<m>``,
  ``markets_summary[.<m>]``, ``funding_data[.<m>]``; private ``orders.*``, ``fills.*``,
  ``positions``, ``account``, ``funding_payments.*`` (JSON only).
* Funding: the engine pays every funding period (8 h, compressed by the time scale); the
  emulator quotes ``funding_rate`` per period and ``funding_rate_8h`` normalised, and advances a
  continuous ``funding_index`` (rate × mark per period, per second) for ``funding_data`` and the
  ``index`` of ``/v1/funding/payments`` rows. No engine change.

Engine accounts are keyed by the Starknet account address (lower-case hex). Engine order ``n`` is
Paradex order id ``str(10**27 + n)``. Errors are ``{"error", "message", "data"}`` (§5.10):
engine ``SimError`` kinds ``invalid`` -> HTTP 400 ``INVALID_ORDER_SIZE`` / ``INVALID_PRICE_PRECISION``
/ ``INVALID_REQUEST_PARAMETER``; ``margin``/``reduce_only``/``rejected`` -> the order comes back
``CLOSED`` with ``cancel_reason`` ``NOT_ENOUGH_MARGIN`` / ``REDUCE_ONLY_WILL_INCREASE`` /
``ORDER_EXCEEDS_POSITION_LIMIT`` (Paradex rejects after acceptance); ``not_found`` -> HTTP 404
``ORDER_ID_NOT_FOUND``. Faults: ``http429`` -> HTTP 429 ``RATE_LIMIT_EXCEEDED``, ``delay`` -> the
next REST answer waits 1 s, ``malformed`` -> one book delta is replaced by a truncated frame,
``drop`` -> every socket is closed, ``reject`` -> engine rejection, ``gap`` -> a ``seq_no`` jump,
``dup`` / ``user_drop`` -> the next ``fills.*`` frame duplicated / lost with its socket closed.
Engine liquidations / ADL are fills with ``fill_type`` ``LIQUIDATION``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .auth import SIM_ACCOUNT, SIM_ETH_ADDRESS, SIM_ETH_PRIVATE_KEY, SIM_STARK_PRIVATE_KEY
from .streams import _ParadexStreams


class ParadexEmulator(_ParadexStreams):
    """Paradex's REST + WebSocket protocol over one :class:`Venue` (see module docstring)."""

    # -- wiring -----------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v1", self._ws_handler)
        r.add_get("/v1/", self._ws_handler)
        for path, handler in (
            ("/v1/system/config", self._system_config), ("/v1/system/time", self._system_time),
            ("/v1/system/state", self._system_state), ("/v1/markets", self._markets),
            ("/v1/markets/summary", self._summary), ("/v1/orderbook/{market}", self._orderbook),
            ("/v1/bbo/{market}", self._bbo), ("/v1/funding/data", self._funding_data),
            ("/v1/trades", self._trades), ("/v1/onboarding", self._onboarding_get),
            ("/v1/account", self._account), ("/v1/balance", self._balance), ("/v1/positions", self._positions),
            ("/v1/orders", self._open_orders), ("/v1/orders/{order_id}", self._get_order),
            ("/v1/orders/by_client_id/{client_id}", self._get_order), ("/v1/orders-history", self._orders_history),
            ("/v1/fills", self._fills), ("/v1/funding/payments", self._funding_payments),
            ("/v1/account/margin", self._margin_get),
        ):
            r.add_get(path, handler)
        r.add_post("/v1/auth", self._auth)
        r.add_post("/v1/auth/{public_key}", self._auth)
        r.add_post("/v1/onboarding", self._onboarding_post)
        r.add_post("/v1/orders", self._create_order)
        r.add_delete("/v1/orders", self._cancel_all)
        r.add_delete("/v1/orders/{order_id}", self._cancel_order)
        r.add_delete("/v1/orders/by_client_id/{client_id}", self._cancel_order)
        r.add_post("/v1/account/margin/{market}", self._margin_set)
        app.on_startup.append(self._start_pump_on_startup)
        return app

    def endpoints(self, host: str, port: int) -> dict[str, Any]:
        """``rest_url`` (``.../v1``), ``ws_url`` (JSON; add ``?sbeSchemaId=1&sbeSchemaVersion=3``
        for SBE), ``ccxt`` constructor options for unmodified ccxt (URL overrides, the sim
        Ethereum wallet, the pre-derived Stark account in ``options.paradexAccount``, JSON WS by
        default) and ``credentials`` for :class:`~perpdex.exchanges.paradex.ParadexClient`."""
        base = f"http://{host}:{port}"
        account = {"privateKey": SIM_STARK_PRIVATE_KEY, "publicKey": hex(self.sim_public_key), "address": SIM_ACCOUNT}
        return {
            "rest_url": f"{base}/v1",
            "ws_url": f"ws://{host}:{port}/v1",
            "ccxt": {
                "urls": {"api": {"v1": f"{base}/v1", "v2": f"{base}/v2", "ws": f"ws://{host}:{port}/v1"}},
                "enableRateLimit": False,  # the emulator has no rate limit: no client-side throttle
                "walletAddress": SIM_ETH_ADDRESS,
                "privateKey": SIM_ETH_PRIVATE_KEY,
                "options": {"paradexAccount": account, "sbe": False},
            },
            "credentials": {"l2_private_key": SIM_STARK_PRIVATE_KEY, "l2_address": SIM_ACCOUNT,
                            "l2_public_key": hex(self.sim_public_key)},
        }
