"""The dashboard: its page (``/``, static files under ``/static``) and its read-only API.

    GET /api/live/status         the attached run (strategies, exchanges, uptime) or none
    GET /api/live/funding        funding heatmap: one cell per (symbol, exchange), APR, interval, next funding
    GET /api/live/opportunities  pairs ranked by net APR after round-trip taker fees
    GET /api/live/positions      open positions, per leg: size, entry and mark, PnL, funding, fees, liquidation
    GET /api/live/grid           each grid: resting entries and take-profits, round trips, realized PnL
    GET /api/live/streams        every market feed and user stream: state, frame age, reconnects
    GET /api/live/events         the run's recent events (perpdex.runtime.events)
    GET /api/live/pnl            cumulative realized PnL over time, from storage
    GET /api/live/stream         Server-Sent Events: ``state`` (all of the above but pnl and events,
                                 every push interval) and ``event`` (each new event, as it happens)

``perpdex run --dashboard`` attaches its live state (:class:`LiveRun`: the trading runtime and its
strategies); ``perpdex serve`` has none, and these routes answer from storage (funding,
opportunities, positions valued at the stored marks, PnL) or empty with ``attached: false``
(grid, streams, events). Nothing here sends an order or changes a setting, and no answer carries
a credential (the figures come from the store, the strategies' state and the feeds' counters).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from ..execution.liquidation import liquidation_distance
from ..funding.collector import FundingSnapshot
from ..funding.opportunities import Opportunity, find_opportunities
from ..models import Side
from ..runtime.core import TradingRuntime
from ..runtime.events import Event, EventBus
from ..storage import FillRow, FundingRow, OrderRole, PositionRow, Store
from ..storage.models import OrderFillRow
from ..strategies.lots import LotBook
from . import live_schemas as S

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
OPEN_STATUSES = ["opening", "open", "closing", "naked"]
LIQUIDATION_REFRESH_S = 15.0  # REST position reads for a leg's liquidation price, at most this often
MAX_PNL_POINTS = 2000
STATE_OPPORTUNITIES = 12  # pairs in each pushed state (the page's table)
_ZERO = Decimal(0)


@dataclass
class LiveRun:
    """What a ``perpdex run`` shows its dashboard: the shared trading runtime and the strategies
    running on it (funding-arb and grid objects, read only)."""

    runtime: TradingRuntime
    strategies: list[Any]
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _liq: dict[tuple[str, str], tuple[float, Decimal | None]] = field(default_factory=dict)
    _grid_books: dict[str, tuple[int, LotBook]] = field(default_factory=dict)
    _grid_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def arbs(self) -> list[Any]:
        return [s for s in self.strategies if getattr(s, "kind", None) == "funding_arb"]

    @property
    def grids(self) -> list[Any]:
        return [s for s in self.strategies if getattr(s, "kind", None) == "grid"]

    def snapshot(self) -> FundingSnapshot | None:
        """The newest funding round a funding-arb strategy of the run has read."""
        snaps = [s.last_snapshot for s in self.arbs if s.last_snapshot is not None]
        return max(snaps, key=lambda s: s.ts) if snaps else None

    async def fetch_liquidation_price(self, exchange: str, symbol: str) -> Decimal | None:
        """The exchange's liquidation price of our position: from the user stream when it reported
        one, else a REST read at most every ``LIQUIDATION_REFRESH_S`` (errors give None)."""
        client = self.runtime.clients.get(exchange)
        if client is None:
            return None
        stream = client.user_stream
        pushed = stream.position(symbol) if stream is not None else None
        if pushed is not None and pushed.liquidation_price:
            return pushed.liquidation_price
        loop = asyncio.get_running_loop()
        at, price = self._liq.get((exchange, symbol), (float("-inf"), None))
        if loop.time() - at < LIQUIDATION_REFRESH_S:
            return price
        self._liq[(exchange, symbol)] = (loop.time(), price)  # one read in flight per leg
        try:
            snap = await asyncio.wait_for(client.fetch_position(symbol), 5.0)
            price = snap.liquidation_price if snap is not None else None
        except Exception as exc:  # noqa: BLE001 - the page shows "n/a"; trading is not concerned
            log.debug("%s %s: position read for the dashboard failed: %s", exchange, symbol, exc)
            price = None
        self._liq[(exchange, symbol)] = (loop.time(), price)
        return price

    async def grid_book(self, grid: Any) -> LotBook:
        """FIFO lots of the grid's stored fills, kept apart from the grid's own book (the dashboard
        reads, never touches the strategy's state); only fills stored since the last call are read."""
        async with self._grid_lock:
            last, book = self._grid_books.get(grid.name, (0, LotBook(grid.cfg.direction)))
            for f in await self.runtime.store.order_fills(grid.name, after_id=last):
                book.add(f.side, f.quantity, f.price, f.fee, f.ts.timestamp())
                last = f.id
            self._grid_books[grid.name] = (last, book)
            return book


# -- helpers -------------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _plain(model: Any) -> Any:
    return model.model_dump(mode="json")


# -- funding heatmap and opportunities -------------------------------------------------------------
async def funding_map(app: FastAPI) -> S.FundingMapResponse:
    """The live run's last funding round, else the newest stored sample per (exchange, symbol)."""
    live: LiveRun | None = getattr(app.state, "live", None)
    snap = live.snapshot() if live is not None else None
    source = "live"
    if snap is None:
        snap = await app.state.service.history.latest_snapshot()
        source = "storage" if snap.rates else "none"
    cells = [S.FundingCell(symbol=sym, exchange=ex, apr=r.apr, rate_per_interval=r.raw_rate, rate_8h=r.normalized_rate,
                           interval_hours=r.interval_hours, next_funding_time=r.next_funding_time,
                           mark_price=r.mark_price)
             for ex in sorted(snap.rates) for sym, r in sorted(snap.rates[ex].items())]
    return S.FundingMapResponse(
        attached=live is not None, as_of=_now(), source=source,  # type: ignore[arg-type]  # one of the Literal's values
        collected_at=datetime.fromtimestamp(snap.ts, UTC) if snap.rates and snap.ts else None,
        exchanges=sorted(snap.rates), symbols=sorted({c.symbol for c in cells}), cells=cells, errors=dict(snap.errors))


def _ranked(o: Opportunity, held: set[str]) -> S.RankedOpportunity:
    return S.RankedOpportunity(symbol=o.symbol, long_exchange=o.long_exchange, short_exchange=o.short_exchange,
                               spread_8h=o.spread_8h, gross_apr=o.gross_apr, fee_apr=o.fee_apr, net_apr=o.net_apr,
                               held=o.symbol in held)


async def opportunities(app: FastAPI, limit: int = 20) -> S.LiveOpportunitiesResponse:
    """Pairs with a positive net APR, best first: ranked by the run's first funding-arb strategy
    (its fees and volume / open-interest filters) from its last round, or from storage by the
    service's ranking (``strategy`` section of the config)."""
    live: LiveRun | None = getattr(app.state, "live", None)
    store: Store = live.runtime.store if live is not None else app.state.store
    held = {p.symbol for p in await store.positions(OPEN_STATUSES, account=live.runtime.account if live else ...)}
    arb = live.arbs[0] if live is not None and live.arbs else None
    if arb is not None and arb.last_snapshot is not None:
        cfg = arb.cfg
        fees = {ex: arb.taker_fee(ex) for ex in arb.clients}
        opps = find_opportunities(arb.last_snapshot, fees, min_net_apr=_ZERO, hold_hours=cfg.hold_hours,
                                  min_volume_24h_usd=cfg.min_volume_24h_usd,
                                  min_open_interest_usd=cfg.min_open_interest_usd, symbols=cfg.symbols or None)
        return S.LiveOpportunitiesResponse(attached=True, as_of=_now(), hold_hours=cfg.hold_hours,
                                       min_net_apr=cfg.min_net_apr,
                                       opportunities=[_ranked(o, held) for o in opps[:limit]])
    st = app.state.cfg.strategy
    found = await app.state.service.opportunities(hold_hours=st.hold_hours, min_net_apr=_ZERO,
                                                  min_volume_24h_usd=st.min_volume_24h_usd,
                                                  min_open_interest_usd=st.min_open_interest_usd, limit=limit)
    return S.LiveOpportunitiesResponse(attached=live is not None, as_of=_now(), hold_hours=st.hold_hours,
                                   min_net_apr=st.min_net_apr,
                                   opportunities=[_ranked(o, held) for o in found.opportunities])


# -- positions ---------------------------------------------------------------------------------------
async def _mark(app: FastAPI, live: LiveRun | None, exchange: str, symbol: str) -> tuple[Decimal | None, str | None]:
    """(mark, source): the run's last funding round, the WebSocket book's mid, the funding history."""
    if live is not None:
        snap = live.snapshot()
        sample = snap.rates.get(exchange, {}).get(symbol) if snap is not None else None
        if sample is not None and sample.mark_price:
            return sample.mark_price, "live"
        client = live.runtime.clients.get(exchange)
        if client is not None:
            depth = client.feed_depth(symbol, 1)
            if depth and depth["bids"] and depth["asks"]:
                return (depth["bids"][0]["price"] + depth["asks"][0]["price"]) / 2, "book"
    rows = await app.state.service.history.latest(exchange=exchange, symbol=symbol)
    if rows and rows[0].mark_price is not None:
        return rows[0].mark_price, "stored"
    return None, None


async def _position(app: FastAPI, live: LiveRun | None, store: Store, pos: PositionRow, now: datetime
                    ) -> S.LivePosition:
    fills = await store.fills(pos.id)
    payments = await store.funding(pos.id)
    legs: list[S.Leg] = []
    for role, ex in (("long", pos.long_exchange), ("short", pos.short_exchange)):
        mine = [f for f in fills if f.exchange == ex]
        held = sum((f.quantity if f.side == "buy" else -f.quantity for f in mine), _ZERO)
        cash = sum((f.quantity * f.price if f.side == "sell" else -(f.quantity * f.price) for f in mine), _ZERO)
        opening = [f for f in mine if f.phase == "open"]
        qty = sum((f.quantity for f in opening), _ZERO)
        entry = (sum((f.quantity * f.price for f in opening), _ZERO) / qty if qty else
                 (pos.entry_long_price if role == "long" else pos.entry_short_price))
        fees = sum((f.fee for f in mine), _ZERO)
        funding = sum((p.amount for p in payments if p.exchange == ex), _ZERO)
        mark, source = await _mark(app, live, ex, pos.symbol)
        upnl = cash + held * mark if mark is not None else (cash if held == 0 else None)
        liq = await live.fetch_liquidation_price(ex, pos.symbol) if live is not None and held != 0 else None
        dist = (liquidation_distance(liq, mark, Side.BUY if role == "long" else Side.SELL)
                if liq is not None and mark is not None else None)
        legs.append(S.Leg(role=role, exchange=ex, size=abs(held), entry_price=entry, mark_price=mark,  # type: ignore[arg-type]  # role is 'long' or 'short'
                          mark_source=source, unrealized_pnl=upnl, funding=funding, fees=fees,
                          net=None if upnl is None else upnl + funding - fees, liquidation_price=liq,
                          liquidation_distance=dist))
    upnls = [leg.unrealized_pnl for leg in legs]
    upnl_total = None if None in upnls else sum((u for u in upnls if u is not None), _ZERO)
    funding_total = sum((leg.funding for leg in legs), _ZERO)
    fees_total = sum((leg.fees for leg in legs), _ZERO)
    return S.LivePosition(
        id=pos.id, strategy=pos.strategy, symbol=pos.symbol, status=pos.status, opened_at=pos.opened_at,
        age_s=max((now - pos.opened_at).total_seconds(), 0.0), entry_net_apr=pos.entry_net_apr, legs=legs,
        funding=funding_total, funding_payments=len(payments), fees=fees_total, unrealized_pnl=upnl_total,
        net=None if upnl_total is None else upnl_total + funding_total - fees_total)


async def positions(app: FastAPI) -> S.PositionsResponse:
    """Open pair positions (a grid's funding holder row is the grid's, shown under /grid)."""
    live: LiveRun | None = getattr(app.state, "live", None)
    store: Store = live.runtime.store if live is not None else app.state.store
    rows = await store.positions(OPEN_STATUSES, account=live.runtime.account if live is not None else ...)
    now = _now()
    out = [await _position(app, live, store, p, now) for p in rows if (p.detail or {}).get("kind") != "grid"]
    return S.PositionsResponse(attached=live is not None, as_of=now, positions=out)


# -- grids -------------------------------------------------------------------------------------------
def _order(o: Any) -> S.GridOrder:
    return S.GridOrder(role=o.role, side=o.side, price=o.price, quantity=o.quantity, filled=o.filled, status=o.status,
                       created_at=o.created_at)


async def grids(app: FastAPI) -> S.GridResponse:
    live: LiveRun | None = getattr(app.state, "live", None)
    if live is None:
        return S.GridResponse(attached=False, as_of=_now(), grids=[])
    out = []
    for g in live.grids:
        book = await live.grid_book(g)
        funding = _ZERO
        if g.holder is not None:
            funding = sum((p.amount for p in await live.runtime.store.funding(g.holder.id)), _ZERO)
        depth = g.client.feed_depth(g.symbol, 1)
        mark = (depth["bids"][0]["price"] + depth["asks"][0]["price"]) / 2 if depth and depth["bids"] and depth["asks"] else None
        price_pnl = book.realized_price_pnl
        out.append(S.GridView(
            name=g.name, exchange=g.client.name, symbol=g.symbol, direction=g.cfg.direction,
            halted=bool(g.state.halted), paused=g.state.paused,
            resting_entries=[_order(o) for o in g.orders.live(OrderRole.ENTRY)],
            resting_take_profits=[_order(o) for o in g.orders.live(OrderRole.TAKE_PROFIT)],
            round_trips=len(book.round_trips), closed_price_pnl=price_pnl, fees=book.fees, funding=funding,
            realized_pnl=price_pnl - book.fees + funding, open_quantity=book.open_qty,
            avg_entry=book.avg_entry.quantize(Decimal("1e-8")) if book.avg_entry is not None else None,
            mark_price=mark, unrealized_pnl=book.unrealized(mark) if mark is not None else None))
    return S.GridResponse(attached=True, as_of=_now(), grids=out)


# -- streams and events ------------------------------------------------------------------------------
def streams(app: FastAPI) -> S.StreamsResponse:
    live: LiveRun | None = getattr(app.state, "live", None)
    out: list[S.FeedHealth] = []
    for name, client in (live.runtime.clients.items() if live is not None else ()):
        st = client.feed.stats()
        books = st.get("symbols", {})
        out.append(S.FeedHealth(exchange=name, kind="market", state=st["state"], frame_age_s=st.get("last_frame_age_s"),
                                frames=st["frames"], reconnects=st["reconnects"],
                                books_ready=sum(1 for b in books.values() if b["ready"]), books=len(books)))
        if client.user_stream is not None:
            us = client.user_stream.stats()
            out.append(S.FeedHealth(exchange=name, kind="user", state=us["state"], frame_age_s=us.get("last_frame_age_s"),
                                    frames=us["messages"], reconnects=us["reconnects"], books_ready=None, books=None))
    return S.StreamsResponse(attached=live is not None, as_of=_now(), streams=out)


def _event(ev: Event) -> S.EventOut:
    return S.EventOut(**ev.as_dict())


def events(app: FastAPI, limit: int = 200) -> S.EventsResponse:
    live: LiveRun | None = getattr(app.state, "live", None)
    recent = live.runtime.events.recent(limit) if live is not None else []
    return S.EventsResponse(attached=live is not None, as_of=_now(), events=[_event(e) for e in recent])


def status(app: FastAPI) -> S.StatusResponse:
    live: LiveRun | None = getattr(app.state, "live", None)
    now = _now()
    if live is None:
        return S.StatusResponse(attached=False, as_of=now, started_at=None, uptime_s=None, account=None,
                                exchanges=list(app.state.cfg.enabled_exchanges), strategies=[])
    return S.StatusResponse(attached=True, as_of=now, started_at=live.started_at,
                            uptime_s=(now - live.started_at).total_seconds(), account=live.runtime.account,
                            exchanges=list(live.runtime.clients),
                            strategies=[S.StrategyInfo(name=s.name, kind=s.kind) for s in live.strategies])


# -- cumulative PnL from storage -----------------------------------------------------------------------
async def pnl(app: FastAPI, max_points: int = MAX_PNL_POINTS) -> S.PnlResponse:
    """Realized PnL over time: each funding payment at its time, each fill's fee at its time, a
    closed pair's price PnL at its close, a grid round trip's price PnL at its exit (a grid's
    entries and exits are matched FIFO); of the run's account when attached."""
    live: LiveRun | None = getattr(app.state, "live", None)
    store: Store = live.runtime.store if live is not None else app.state.store
    steps: list[tuple[datetime, Decimal]] = []
    funding = fees = price = _ZERO
    async with store.sessions() as s:
        q = select(PositionRow)
        if live is not None:
            q = q.where(PositionRow.account == live.runtime.account)
        rows = list((await s.scalars(q)).all())
        ids = {p.id: p for p in rows}
        grid_names = sorted({p.strategy for p in rows if (p.detail or {}).get("kind") == "grid"})
        cash: dict[int, Decimal] = {}
        for f in (await s.scalars(select(FillRow).where(FillRow.position_id.in_(list(ids))))).all() if ids else ():
            steps.append((f.ts, -f.fee))
            fees += f.fee
            cash[f.position_id] = cash.get(f.position_id, _ZERO) + (f.quantity * f.price if f.side == "sell"
                                                                     else -(f.quantity * f.price))
        for p in (await s.scalars(select(FundingRow).where(FundingRow.position_id.in_(list(ids))))).all() if ids else ():
            steps.append((p.ts, p.amount))
            funding += p.amount
        for pid, c in cash.items():
            pos = ids[pid]
            if pos.status in ("closed", "failed") and pos.closed_at is not None:
                steps.append((pos.closed_at, c))
                price += c
        for name in grid_names:
            direction = next(((p.detail or {}).get("direction", "buy") for p in rows if p.strategy == name), "buy")
            book = LotBook(direction)
            for f in (await s.scalars(select(OrderFillRow).where(OrderFillRow.strategy == name)
                                      .order_by(OrderFillRow.id))).all():
                book.add(f.side, f.quantity, f.price, f.fee, f.ts.timestamp())
                steps.append((f.ts, -f.fee))
                fees += f.fee
            for rt in book.round_trips:
                steps.append((datetime.fromtimestamp(rt.exit_ts, UTC), rt.price_pnl))
                price += rt.price_pnl
    steps.sort(key=lambda x: x[0])
    points: list[S.PnlPoint] = []
    total = _ZERO
    for ts, amount in steps:
        total += amount
        points.append(S.PnlPoint(ts=ts, pnl=total))
    if len(points) > max_points:  # the last point of each of max_points equal time buckets
        t0, t1 = points[0].ts.timestamp(), points[-1].ts.timestamp()
        width = (t1 - t0) / max_points or 1.0
        kept: dict[int, S.PnlPoint] = {}
        for pt in points:
            kept[min(int((pt.ts.timestamp() - t0) / width), max_points - 1)] = pt
        points = list(kept.values())
    return S.PnlResponse(attached=live is not None, as_of=_now(), points=points, total=total, funding=funding,
                         fees=fees, price_pnl=price)


# -- Server-Sent Events --------------------------------------------------------------------------------
def sse(event: str, data: Any) -> str:
    """One Server-Sent Events message (``data`` as one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def state(app: FastAPI) -> dict[str, Any]:
    """What one ``state`` message carries."""
    return {"status": _plain(status(app)), "funding": _plain(await funding_map(app)),
            "opportunities": _plain(await opportunities(app, STATE_OPPORTUNITIES)), "positions": _plain(await positions(app)),
            "grid": _plain(await grids(app)), "streams": _plain(streams(app))}


class LiveHub:
    """Fans the dashboard's updates out to every connected page: while at least one listens, a
    task builds :func:`state` every ``interval_s`` seconds; each event of ``bus`` is sent at once.
    A page that does not keep up loses its oldest queued messages, never slows the bot (an event
    is only queued, in the publisher's task)."""

    def __init__(self, app: FastAPI, bus: EventBus | None, interval_s: float, queue_size: int = 64) -> None:
        self.app = app
        self.bus = bus
        self.interval_s = interval_s
        self.queue_size = queue_size
        self.closed = False
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def subscribe(self) -> asyncio.Queue[str | None]:
        q: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size)
        self._queues.add(q)
        if self.closed:
            q.put_nowait(None)
        elif self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="dashboard-state")
        return q

    def unsubscribe(self, q: asyncio.Queue[str | None]) -> None:
        self._queues.discard(q)

    def close(self) -> None:
        """End every stream (a server shutting down does not wait for pages to leave)."""
        self.closed = True
        for q in list(self._queues):
            self._offer(q, None)
        if self._task is not None:
            self._task.cancel()

    @staticmethod
    def _offer(q: asyncio.Queue[str | None], msg: str | None) -> None:
        while q.full():
            q.get_nowait()
        q.put_nowait(msg)

    def _on_event(self, ev: Event) -> None:
        msg = sse("event", _plain(_event(ev)))
        for q in list(self._queues):
            self._offer(q, msg)

    async def _run(self) -> None:
        remove = self.bus.subscribe(self._on_event) if self.bus is not None else None
        try:
            while self._queues and not self.closed:
                try:
                    msg = sse("state", await state(self.app))
                except Exception as exc:  # noqa: BLE001 - the next round retries; the page keeps its last state
                    log.warning("dashboard state failed: %s", exc)
                else:
                    for q in list(self._queues):
                        self._offer(q, msg)
                await asyncio.sleep(self.interval_s)
        finally:
            if remove is not None:
                remove()


# -- routes ------------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/live", tags=["dashboard"])


@router.get("/status", response_model=S.StatusResponse, summary="The attached run")
async def get_status(request: Request) -> Any:
    return status(request.app)


@router.get("/funding", response_model=S.FundingMapResponse, summary="Funding heatmap")
async def get_funding(request: Request) -> Any:
    """One cell per (symbol, exchange): APR, per-interval and 8h rate, interval, next funding time."""
    return await funding_map(request.app)


@router.get("/opportunities", response_model=S.LiveOpportunitiesResponse, summary="Pairs ranked by net APR")
async def get_opportunities(request: Request,
                            limit: int = Query(20, ge=1, le=200, description="At most this many pairs.")) -> Any:
    return await opportunities(request.app, limit)


@router.get("/positions", response_model=S.PositionsResponse, summary="Open positions, per leg")
async def get_positions(request: Request) -> Any:
    return await positions(request.app)


@router.get("/grid", response_model=S.GridResponse, summary="Grid state")
async def get_grid(request: Request) -> Any:
    return await grids(request.app)


@router.get("/streams", response_model=S.StreamsResponse, summary="Feed and user-stream health")
async def get_streams(request: Request) -> Any:
    return streams(request.app)


@router.get("/events", response_model=S.EventsResponse, summary="Recent events")
async def get_events(request: Request,
                     limit: int = Query(200, ge=1, le=500, description="At most this many, the newest.")) -> Any:
    return events(request.app, limit)


@router.get("/pnl", response_model=S.PnlResponse, summary="Cumulative realized PnL")
async def get_pnl(request: Request,
                  max_points: int = Query(MAX_PNL_POINTS, ge=10, le=10000, description="At most this many points.")
                  ) -> Any:
    return await pnl(request.app, max_points)


@router.get("/stream", summary="Live updates (Server-Sent Events)", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "event: state (the status, funding, opportunities, positions, grid "
                                            "and streams answers) every push interval; event: event (one "
                                            "EventOut) as events happen; a comment every 15 s."}})
async def get_stream(request: Request) -> StreamingResponse:
    hub: LiveHub = request.app.state.live_hub
    q = hub.subscribe()

    async def body() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), 15.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if msg is None:
                    return
                yield msg
        finally:
            hub.unsubscribe(q)

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


page = APIRouter(include_in_schema=False)


@page.get("/")
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP})


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def install(app: FastAPI, live: LiveRun | None = None, *, push_interval_s: float | None = None) -> None:
    """Add the page, its static files and the ``/api/live`` routes to ``app``; ``live``: the run
    to show (None: storage only). State is pushed every ``push_interval_s`` seconds (default 1 s
    with a run, 2 s without)."""
    app.state.live = live
    interval = push_interval_s if push_interval_s is not None else (1.0 if live is not None else 2.0)
    app.state.live_hub = LiveHub(app, live.runtime.events if live is not None else None, interval)
    app.include_router(router)
    app.include_router(page)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

