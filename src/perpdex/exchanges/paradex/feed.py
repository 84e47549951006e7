"""Paradex order books and BBO over the JSON-RPC WebSocket, in JSON or SBE binary.

Protocol (docs/exchanges/paradex.md §4; https://docs.paradex.trade/ws/):

* subscribe ``{"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": ...}, "id": n}``;
  several channels and markets share the socket; subscribing twice is an error, so a resync
  unsubscribes first.
* ``order_book.<market>.deltas`` (default ``mode="deltas"``): a full snapshot (``update_type``
  "s" / SBE pkgType 0), then deltas ("d" / pkgType 1) that must be applied in ``seq_no`` order,
  each ``seq_no`` = previous + 1. A jump -> the book is not ready -> unsubscribe + subscribe ->
  fresh snapshot -> ready. A crossed book resyncs the same way.
* ``order_book.<market>.snapshot@15@100ms`` (``mode="snapshot"``): every message is a complete
  15-level book; the one with the highest ``seq_no`` is kept, older ones are ignored.
* ``bbo.<market>``: best bid/ask (prices USD, sizes base units), served by :meth:`bbo`.
* SBE (``sbe_version`` set): the URL gets ``?sbeSchemaId=1&sbeSchemaVersion=<v>``; public data
  arrives as binary frames (decoded by :func:`~.schemas.decode_sbe`), control frames stay JSON.

Funding stream (``funding_stream=True``): ``funding_data.<market>`` is subscribed next to the
book (JSON ``funding_data`` pushes, or SBE FundingDataEvent, template 5, read into the same
row); each becomes a sample through :func:`~.funding.sample_from_funding_data`, the path of the
REST adapter's ``/v1/funding/data`` reading (``funding_rate`` per the row's
``funding_period_hours``, else the market's, else 8 h). It carries no mark price.

Malformed frames raise from :meth:`handle_frame` (the base class logs and drops them); when the
frame names a followed market, that book is invalidated and resynced first.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable
from typing import Any

import aiohttp

from ..feed import WsMarketFeed
from . import schemas
from .funding import sample_from_funding_data
from .symbols import ParadexSymbols

log = logging.getLogger(__name__)

EXCHANGE = "paradex"
_MARKET_RE = re.compile(rb"([A-Za-z0-9]+-USD-PERP)")


class ParadexMarketFeed(WsMarketFeed):
    """Books (and BBO) for any number of Paradex perps on one socket, subscribed on demand.

    ``catalog`` maps canonical symbols to market names; unknown symbols fall back to the plain
    ``<SYMBOL>-USD-PERP`` name (the server answers an error for a market it does not list).
    ``mode``: ``"deltas"`` (default) or ``"snapshot"``; ``sbe_version``: None for JSON frames,
    0..3 for SBE binary public data; ``market_of`` (canonical symbol -> the ``/v1/markets`` row)
    gives the funding period when a funding row has none."""
    #: seconds of silence (no frame, no pong) after which the socket is down: see docs/RESILIENCE.md
    #: (Paradex keeps sockets alive with WebSocket ping/pong; its SDK gives up after a 20 s read timeout)
    silence_timeout = 20.0

    def __init__(
        self,
        ws_url: str,
        *,
        catalog: ParadexSymbols | None = None,
        mode: str = "deltas",
        sbe_version: int | None = None,
        session: aiohttp.ClientSession | None = None,
        market_of: Callable[[str], schemas.Market | None] | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in ("deltas", "snapshot"):
            raise ValueError(f"mode must be 'deltas' or 'snapshot', got {mode!r}")
        super().__init__(EXCHANGE, ws_url, session=session, **kwargs)
        self.catalog = catalog if catalog is not None else ParadexSymbols()
        self.mode = mode
        self.sbe_version = sbe_version
        self._market_of = market_of  # canonical -> /v1/markets row (funding period fallback), from the client
        self._ids = itertools.count(1)

    # -- hooks ------------------------------------------------------------------------------------
    def ws_url(self) -> str:
        if self.sbe_version is None:
            return self.url
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}sbeSchemaId={schemas.SCHEMA_ID}&sbeSchemaVersion={self.sbe_version}"

    def book_channel(self, symbol: str) -> str:
        market = self.catalog.name(symbol)
        return f"order_book.{market}.deltas" if self.mode == "deltas" else f"order_book.{market}.snapshot@15@100ms"

    def _rpc(self, method: str, channel: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": {"channel": channel}, "id": next(self._ids)}

    def _channels(self, symbol: str) -> list[str]:
        market = self.catalog.name(symbol)
        return [self.book_channel(symbol), f"bbo.{market}"] + ([f"funding_data.{market}"] if self.funding_stream else [])

    def subscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [self._rpc("subscribe", ch) for ch in self._channels(symbol)]

    def unsubscribe_frames(self, symbol: str) -> list[dict[str, Any]]:
        return [self._rpc("unsubscribe", ch) for ch in self._channels(symbol)]

    async def resync(self, symbol: str) -> None:
        """Unsubscribe and subscribe the book channel only (the BBO stream keeps flowing); the
        server restarts the feed with a snapshot."""
        ch = self.book_channel(symbol)
        await self.send_json(self._rpc("unsubscribe", ch))
        await self.send_json(self._rpc("subscribe", ch))

    def _symbol(self, market: str) -> str | None:
        sym = self.catalog.listed(market) or self.catalog.add(market)
        return sym if sym is not None and sym in self._states else None

    # -- frames -----------------------------------------------------------------------------------
    def handle_frame(self, data: bytes) -> None:
        """Apply one frame (JSON text or SBE binary). Raises ValueError/msgspec errors on
        malformed, unknown or error frames; a followed market named in a bad frame is resynced."""
        try:
            if data[:1] == b"{":
                self._handle_json(data)
            else:
                self._handle_sbe(data)
        except Exception:
            m = _MARKET_RE.search(data) if isinstance(data, (bytes, bytearray)) else None
            sym = self._symbol(m.group(1).decode()) if m else None
            if sym is not None and self.state(sym).ready.is_set():
                self.invalidate(sym, "malformed frame")
            raise

    def _handle_json(self, data: bytes) -> None:
        msg = schemas.ws_decoder.decode(data)
        if msg.error is not None:
            raise ValueError(f"error frame {msg.error.code}: {msg.error.message} ({msg.error.data})")
        if msg.method != "subscription":
            if msg.result is not None:
                return  # subscribe/unsubscribe/auth acknowledgement
            raise ValueError(f"unexpected frame method {msg.method!r}")
        if msg.params is None or bytes(msg.params.data) in (b"", b"null"):
            raise ValueError("subscription frame without data")
        channel = msg.params.channel
        if channel.startswith("order_book."):
            body = schemas.book_data_decoder.decode(msg.params.data)
            sym = self._symbol(body.market)
            if sym is None:
                return
            bids: list[tuple[float, float]] = []
            asks: list[tuple[float, float]] = []
            for group, zero in ((body.inserts, False), (body.updates, False), (body.deletes, True)):
                for lv in group:
                    row = (float(lv.price), 0.0 if zero else float(lv.size))
                    if lv.side == "BUY":
                        bids.append(row)
                    elif lv.side == "SELL":
                        asks.append(row)
                    else:
                        raise ValueError(f"book level with side {lv.side!r}")
            self._on_book(sym, body.seq_no, body.update_type == "s", bids, asks)
        elif channel.startswith("bbo."):
            b = schemas.bbo_data_decoder.decode(msg.params.data)
            sym = self._symbol(b.market)
            bid = float(b.bid) if b.bid else None  # ValueError on garbage; "" = empty side
            ask = float(b.ask) if b.ask else None
            if sym is not None and bid is not None and ask is not None:
                self.set_bbo(sym, bid, float(b.bid_size or 0), ask, float(b.ask_size or 0))
        elif channel.startswith("funding_data"):
            self._on_funding(schemas.funding_push_decoder.decode(msg.params.data))
        # other public channels are not used by the book feed

    def _handle_sbe(self, data: bytes) -> None:
        msg = schemas.decode_sbe(bytes(data))
        if isinstance(msg, schemas.SbeBook):
            sym = self._symbol(msg.market)
            if sym is not None:
                self._on_book(sym, msg.seq, msg.pkg_type == 0, msg.bids, msg.asks)
        elif isinstance(msg, schemas.SbeBbo):
            sym = self._symbol(msg.market)
            if sym is not None and msg.bid is not None and msg.ask is not None:
                self.set_bbo(sym, float(msg.bid), float(msg.bid_size or 0), float(msg.ask), float(msg.ask_size or 0))
        elif isinstance(msg, schemas.SbeFunding):
            self._on_funding(schemas.funding_row(msg))

    def _on_funding(self, row: schemas.FundingData) -> None:
        sym = self._symbol(row.market)
        if sym is None or schemas.dec(row.funding_rate) is None:
            return
        market = self._market_of(sym) if self._market_of is not None else None
        self.set_funding(sym, sample_from_funding_data(row, sym, market, self.catalog.multiplier(sym),
                                                       "funding_data stream"))

    def _on_book(self, sym: str, seq: int, snapshot: bool, bids: list[tuple[float, float]],
                 asks: list[tuple[float, float]]) -> None:
        st = self.state(sym)
        book = st.book
        if self.mode == "snapshot":
            if book.sequence is not None and seq <= book.sequence:
                return  # an older snapshot arriving late
            book.apply_snapshot(bids, asks, seq)
            self.mark_ready(sym)
            return
        if snapshot:
            book.apply_snapshot(bids, asks, seq)
            self.mark_ready(sym)
            return
        if not st.ready.is_set() or book.sequence is None:
            return  # resyncing: wait for the fresh snapshot
        if seq <= book.sequence:
            return  # duplicate or already covered by the snapshot
        if seq != book.sequence + 1:
            self.invalidate(sym, f"seq_no gap: {book.sequence} -> {seq}")
            return
        book.apply_levels(bids, asks, seq)
        if book.is_crossed():
            self.invalidate(sym, "crossed book")
