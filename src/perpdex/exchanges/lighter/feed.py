"""Lighter order books over the ``order_book/<market_id>`` WebSocket channel.

Protocol (docs/exchanges/lighter.md §4.3, https://apidocs.lighter.xyz/docs/websocket-reference):
subscribe ``{"type": "subscribe", "channel": "order_book/0"}``; the first message is
``subscribed/order_book`` with the full book, later ones ``update/order_book`` with the changed
levels (absolute sizes; 0 deletes), batched about every 50 ms. Continuity: each update's
``begin_nonce`` must equal the ``nonce`` of the previously applied message; ``offset`` is per API
server and is never used. A broken chain or a crossed book marks the book not ready and
resubscribes (unsubscribe + subscribe), which brings a fresh snapshot.

Funding stream (``funding_stream=True``): ``market_stats/<market_id>`` is subscribed next to the
book; its ``current_funding_rate`` (percent per hour), ``funding_timestamp`` and ``mark_price``
become a sample through :func:`~.funding.sample_from_market_stats` (the funding module's path).
A resync touches the book channel only.

Prices are USD, sizes base units; the BBO is the top of the book.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic as _monotonic
from typing import Any

import aiohttp

from ...errors import UnknownSymbol
from ..feed import SymbolState, WsMarketFeed
from . import schemas
from .funding import perp_details, sample_from_market_stats
from .rest import EXCHANGE, LighterRest
from .symbols import LighterSymbols

log = logging.getLogger(__name__)

_decode_frame = schemas.ws_frame.decode


class LighterMarketFeed(WsMarketFeed):
    """Books for any number of Lighter perps on one socket, subscribed on demand.

    ``catalog`` maps canonical symbols to market ids; when a symbol is unknown and ``rest_url``
    is set, the catalog (``GET /api/v1/orderBookDetails``) is loaded first. Unknown symbols
    raise :class:`~perpdex.errors.UnknownSymbol` (a ``KeyError``) from :meth:`prepare`."""
    #: seconds of silence (no frame, no pong) after which the socket is down: see docs/RESILIENCE.md
    #: (Lighter sends JSON pings and asks clients to send something at least every 2 min; it answers WebSocket pings)
    silence_timeout = 30.0

    def __init__(
        self,
        ws_url: str,
        *,
        catalog: LighterSymbols | None = None,
        rest_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(EXCHANGE, ws_url, session=session, **kwargs)
        self.catalog = catalog if catalog is not None else LighterSymbols()
        self.rest = LighterRest(rest_url, session_of=self.http_session) if rest_url else None
        self._channel_ids: dict[str, int] = {}  # "order_book:0" -> 0
        self._by_channel: dict[str, SymbolState] = {}  # "order_book:0" -> followed symbol's state

    # -- catalog ---------------------------------------------------------------------------------
    async def load_symbols(self) -> None:
        """Fill :attr:`catalog` from ``orderBookDetails`` (perps only, see
        :func:`~perpdex.exchanges.lighter.funding.perp_details`). Raises the typed errors of
        :class:`~perpdex.exchanges.lighter.rest.LighterRest`."""
        if self.rest is None:
            raise UnknownSymbol("feed: no catalog and no rest_url to load one", exchange=EXCHANGE)
        perp_details(await self.rest.get("/api/v1/orderBookDetails"), self.catalog)

    async def prepare(self, symbol: str) -> None:
        """Subscribe ``symbol`` (canonical) on demand; loads the catalog if needed."""
        if symbol not in self.catalog:
            await self.load_symbols()
        self.catalog.market_id(symbol)  # UnknownSymbol for a symbol Lighter does not list
        await super().prepare(symbol)

    # -- hooks -----------------------------------------------------------------------------------
    def _channels(self, symbol: str) -> list[str]:
        mid = self.catalog.market_id(symbol)
        return [f"order_book/{mid}"] + ([f"market_stats/{mid}"] if self.funding_stream else [])

    def subscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [{"type": "subscribe", "channel": ch} for ch in self._channels(symbol)]

    def unsubscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [{"type": "unsubscribe", "channel": ch} for ch in self._channels(symbol)]

    async def resync(self, symbol: str) -> None:
        """Unsubscribe and subscribe the book channel only (a fresh snapshot follows)."""
        channel = f"order_book/{self.catalog.market_id(symbol)}"
        await self.send_json({"type": "unsubscribe", "channel": channel})
        await self.send_json({"type": "subscribe", "channel": channel})

    def _pong(self) -> None:
        async def send() -> None:
            try:
                await self.send_json({"type": "pong"})
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.debug("%s feed: pong failed: %s", EXCHANGE, exc)

        asyncio.get_running_loop().create_task(send())

    def handle_frame(self, data: bytes) -> None:
        """Apply one server frame (raw JSON bytes). Raises ``ValueError`` (and msgspec errors) on
        malformed, unknown or error frames; the base class logs and drops them.

        Hot path (about 2x ``orjson.loads`` per delta, see docs/BENCHMARKS.md): one msgspec decode
        straight to float levels, the channel's market id cached, levels set in place; the
        ``update/order_book`` branch is inlined here, every other frame goes to :meth:`_on_other`."""
        frame = _decode_frame(data)
        if frame.type != "update/order_book":
            self._on_other(frame)
            return
        body = frame.order_book
        if body is None:
            raise ValueError(f"order_book frame without a book on channel {frame.channel!r}")
        st = self._by_channel.get(frame.channel)
        if st is None:
            st = self._channel_state(frame.channel)
            if st is None:
                return  # a market we no longer (or never) follow
        book = st.book
        if book.sequence is None or not st.ready.is_set():
            return  # resyncing: wait for the fresh snapshot
        if body.begin_nonce != book.sequence:
            self.invalidate(book.symbol, f"nonce gap: begin_nonce {body.begin_nonce} != previous nonce {book.sequence}")
            return
        set_level = book.set_bid
        for lv in body.bids:
            set_level(lv.price, lv.size)
        set_level = book.set_ask
        for lv in body.asks:
            set_level(lv.price, lv.size)
        book.sequence = body.nonce
        book.updated_at = _monotonic()
        if book.is_crossed():
            self.invalidate(book.symbol, "crossed book")

    def _on_other(self, frame: schemas.WsFrame) -> None:
        """Every frame but ``update/order_book``: snapshot, ping, acks, errors."""
        ftype = frame.type
        if ftype == "subscribed/order_book":
            self._on_snapshot(frame)
        elif ftype == "update/market_stats" or ftype == "subscribed/market_stats":
            self._on_market_stats(frame)
        elif ftype == "ping":
            self._pong()
        elif ftype in ("connected", "pong", "unsubscribed"):
            return
        elif frame.error is not None:
            raise ValueError(f"error frame {frame.error.code}: {frame.error.message}")
        else:
            raise ValueError(f"unexpected frame type {ftype!r} on channel {frame.channel!r}")

    def _market_id(self, channel: str) -> int:
        """``"order_book:0"`` -> 0 (cached per channel string); ValueError for anything else."""
        mid = self._channel_ids.get(channel)
        if mid is None:
            name, _, market = channel.partition(":")
            if name != "order_book" or not market.isdigit():
                raise ValueError(f"order_book frame with channel {channel!r}")
            mid = int(market)
            if len(self._channel_ids) < 4096:  # a handful in practice; bounded against junk
                self._channel_ids[channel] = mid
        return mid

    def _channel_state(self, channel: str) -> SymbolState | None:
        """The followed symbol's state for a channel (None if not followed), cached per channel
        string until a symbol is removed."""
        symbol = self.catalog.by_id.get(self._market_id(channel))
        st = self._states.get(symbol) if symbol is not None else None
        if st is not None:
            self._by_channel[channel] = st
        return st

    async def remove(self, symbol: str) -> None:
        self._by_channel.clear()
        await super().remove(symbol)

    def _book_state(self, frame: schemas.WsFrame) -> tuple[schemas.WsOrderBook, SymbolState | None]:
        body = frame.order_book
        if body is None:
            raise ValueError(f"order_book frame without a book on channel {frame.channel!r}")
        symbol = self.catalog.by_id.get(self._market_id(frame.channel))
        # None: a market we no longer (or never) follow
        return body, (self._states.get(symbol) if symbol is not None else None)

    def _on_snapshot(self, frame: schemas.WsFrame) -> None:
        body, st = self._book_state(frame)
        if st is None:
            return
        st.book.apply_snapshot([(lv.price, lv.size) for lv in body.bids],
                               [(lv.price, lv.size) for lv in body.asks], body.nonce)
        self.mark_ready(st.book.symbol)

    def _on_market_stats(self, frame: schemas.WsFrame) -> None:
        """``market_stats:<id>`` (one entry) or ``market_stats:all`` (entries keyed by market id):
        a funding sample per followed market."""
        raw = frame.market_stats
        if not bytes(raw):
            raise ValueError(f"market_stats frame without stats on channel {frame.channel!r}")
        if frame.channel.endswith(":all"):
            entries = list(schemas.market_stats_all.decode(raw).values())
        else:
            entries = [schemas.market_stats.decode(raw)]
        for stats in entries:
            symbol = self.catalog.by_id.get(stats.market_id)
            if symbol is not None and symbol in self._states:
                self.set_funding(symbol, sample_from_market_stats(symbol, stats, self.catalog.multiplier(symbol)))
