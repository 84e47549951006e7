"""The trading runtime shared by every strategy of one bot: the exchange clients, the store, the
price provider, the user-data streams and the events they report, stored cooldowns, funding
payment sync and the market-data pause policy.

One :class:`TradingRuntime` per ``perpdex run`` process; every strategy entry of the config runs
on it, so clients, sockets and storage are shared and each strategy only sees its own orders and
positions (positions carry the strategy's name, orders its client-id tag).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ..errors import ExchangeError
from ..exchanges.base import ExchangeClient
from ..execution.price_provider import PriceProvider
from ..models import UserEvent
from ..storage import PositionRow, Store
from ..symbols import SymbolRegistry
from .events import EventBus, EventKind
from .health import ExchangeHealth, NotEnoughExchanges
from .streams import start_user_streams

log = logging.getLogger(__name__)

EventSink = Callable[[str], None]
UserEventListener = Callable[[UserEvent], None]


class TradingRuntime:
    """``clients`` by exchange name (connected by :meth:`start`); ``store`` migrated storage;
    ``account`` the account this bot trades for (None: no account); ``prices`` the shared
    PriceProvider; ``on_event`` receives every human-readable event line (also logged)."""

    def __init__(self, clients: dict[str, ExchangeClient], store: Store, *, account: str | None = None,
                 prices: PriceProvider | None = None, on_event: EventSink | None = None,
                 feed_ready_timeout_s: float = 10.0) -> None:
        self.clients = clients
        self.store = store
        self.account = account
        self.prices = prices or PriceProvider()
        self.on_event = on_event or (lambda msg: None)
        self.events = EventBus()  # every event, structured (the dashboard, alerts): events.py
        self.feed_ready_timeout_s = feed_ready_timeout_s
        self.symbols = SymbolRegistry()
        self._connected = False
        self._listeners: list[UserEventListener] = []
        self._stream_removers: dict[str, Callable[[], None]] = {}
        self._busy: list[Callable[[], bool]] = []
        self._market_data_holds: dict[str, set[str]] = {}  # exchange -> symbols a strategy keeps live
        self._last_trade_activity = float("-inf")
        self.reserved: dict[tuple[str, str], str] = {}  # (exchange, symbol) -> the strategy that owns it
        #: which exchanges are up; down ones are left out of scanning and new entries (health.py)
        self.health = ExchangeHealth(clients, self.event)
        self.health.on_up(self._exchange_back)
        self._stream_symbols: list[str] | None = None  # user streams run (for these symbols) once started
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, min_up: int | None = None) -> None:
        """Connect every client (catalogs, private clients) once; later calls do nothing. An
        exchange that cannot be reached is marked down (:attr:`health`: logged once, retried with
        back-off) and the others go on. Raises :class:`~perpdex.runtime.health.NotEnoughExchanges`
        (one line naming each down exchange and why) when fewer than ``min_up`` are up (default:
        two, or every exchange when fewer are configured)."""
        if self._connected:
            return
        failed = await self.health.connect_all()
        need = min(2, len(self.clients)) if min_up is None else min_up
        up = self.health.up()
        if len(up) < need:
            raise NotEnoughExchanges(
                f"{len(up)} of {len(self.clients)} exchanges up, {need} needed: "
                + "; ".join(f"{n} down ({r})" for n, r in failed.items()))
        self.symbols = SymbolRegistry.from_contracts(c for cl in self.clients.values() for c in cl.contracts.values())
        self._connected = True
        self.health.watch_streams()
        self.health.start()

    def _rebuild_symbols(self) -> None:
        """The tradable markets again from every catalog (an exchange came back)."""
        self.symbols = SymbolRegistry.from_contracts(c for cl in self.clients.values() for c in cl.contracts.values())

    async def start_user_streams(self, symbols: Iterable[str] = ()) -> None:
        """Start every exchange's user-data stream (tracking ``symbols``), reconciled over REST
        after every (re)connect, and wait up to ``feed_ready_timeout_s`` for them; an exchange
        whose stream cannot start is logged and traded with REST fill tracking only. Idempotent."""
        self._stream_symbols = sorted(set(symbols) | set(self._stream_symbols or ()))
        up = {k: c for k, c in self.clients.items() if self.health.is_up(k)}  # a down one: once it is back
        await start_user_streams(up, self._stream_symbols, self.feed_ready_timeout_s)
        self._attach_listeners()
        self.health.watch_streams()

    def _exchange_back(self, name: str) -> None:
        """A down exchange is back: its markets become tradable, its user stream starts (when the
        bot runs them)."""
        self._rebuild_symbols()
        if self._stream_symbols is not None and name in self.clients:
            async def start() -> None:
                await start_user_streams({name: self.clients[name]}, self._stream_symbols or [],
                                         self.feed_ready_timeout_s)
                self._attach_listeners()
                self.health.watch_streams()
            task = asyncio.get_running_loop().create_task(start(), name=f"{name}-user-stream-start")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _attach_listeners(self) -> None:
        for client in self.clients.values():
            stream = client.user_stream
            if stream is not None and client.name not in self._stream_removers:
                self._stream_removers[client.name] = stream.add_listener(self._dispatch)

    def _dispatch(self, ev: UserEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - one strategy's bug never stops another's events
                log.exception("user-event listener failed")

    def subscribe(self, fn: UserEventListener) -> Callable[[], None]:
        """Call ``fn(event)`` for every new user-stream event (fills, order updates, positions,
        liquidations/ADL) of every exchange; returns a remover. ``fn`` runs in the stream's task:
        keep it short (hand work to a queue)."""
        self._attach_listeners()
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    async def close(self) -> None:
        """Close the price provider, the clients (and their sockets)."""
        for remove in self._stream_removers.values():
            remove()
        self._stream_removers.clear()
        await self.health.stop()
        await self.prices.close()
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)

    # -- events ------------------------------------------------------------------------------------
    def event(self, msg: str, level: int = logging.INFO, *, kind: EventKind = EventKind.INFO,
              strategy: str | None = None, **data: object) -> None:
        """Publish ``msg`` on :attr:`events` (logged there at ``level``, with its ``kind`` and
        figures ``data``: see :mod:`.events`) and hand the line to ``on_event`` (the run's event list)."""
        self.events.publish(kind, msg, level=level, strategy=strategy, **data)
        self.on_event(msg)

    # -- cooldowns ---------------------------------------------------------------------------------
    async def set_cooldown(self, strategy: str, symbol: str, seconds: float, reason: str) -> None:
        """Skip ``symbol`` for ``strategy`` during ``seconds`` from now; stored, so a restart keeps it."""
        if seconds <= 0:
            return
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        await self.store.set_cooldown(strategy, symbol, until, account=self.account, reason=reason[:200])

    async def cooldowns(self, strategy: str) -> dict[str, datetime]:
        """symbol -> until (UTC) for ``strategy``'s running cooldowns."""
        return await self.store.cooldowns(strategy, account=self.account)

    # -- markets owned by one strategy ---------------------------------------------------------------
    def reserve_market(self, exchange: str, symbol: str, strategy: str) -> None:
        """``strategy`` alone trades ``symbol`` on ``exchange`` (a grid): an exchange nets one
        account's position per market, so no other strategy may trade it. Raises ``ValueError``
        when another strategy reserved it first."""
        owner = self.reserved.setdefault((exchange, symbol), strategy)
        if owner != strategy:
            raise ValueError(f"{exchange} {symbol} is already traded by strategy {owner!r}; {strategy!r} cannot trade it too")

    def reserved_by_other(self, exchange: str, symbol: str, strategy: str) -> bool:
        """True when another strategy than ``strategy`` owns ``symbol`` on ``exchange``."""
        owner = self.reserved.get((exchange, symbol))
        return owner is not None and owner != strategy

    # -- market data -------------------------------------------------------------------------------
    def register_busy(self, fn: Callable[[], bool]) -> None:
        """``fn()`` True while a strategy is trading (the pause policy then keeps market data on)."""
        self._busy.append(fn)

    def hold_market_data(self, exchange: str, symbol: str) -> None:
        """Keep ``exchange``'s market data live for ``symbol`` (a strategy quoting from its book):
        the pause policy never pauses that exchange."""
        self._market_data_holds.setdefault(exchange, set()).add(symbol)

    async def resume_books(self, exchanges: Iterable[str], symbol: str) -> None:
        """Market data back on for ``symbol`` on ``exchanges`` and wait (bounded) for the books;
        execution falls back to REST for a book that does not come back in time."""
        clients = [self.clients[e] for e in exchanges]
        await asyncio.gather(*(c.prepare_market_feed(symbol) for c in clients))
        await asyncio.gather(*(c.feed.wait_ready(symbol, self.feed_ready_timeout_s) for c in clients))

    async def pause_if_idle(self, *, enabled: bool, idle_cooldown_s: float, busy: bool = False,
                            traded: bool = True) -> None:
        """Pause the market data of every exchange no strategy holds (:meth:`hold_market_data`)
        when ``enabled``, nothing is being traded (``busy`` and every registered busy check
        False) and no trade was attempted for ``idle_cooldown_s`` s (``traded``: one just was)."""
        now = time.monotonic()
        if traded:
            self._last_trade_activity = now
        if not enabled or busy or any(fn() for fn in self._busy):
            return
        if now - self._last_trade_activity < idle_cooldown_s:
            return
        for client in self.clients.values():
            if client.name in self._market_data_holds or getattr(client.feed, "paused", False):
                continue
            try:
                await client.pause_market_data_streams()
            except Exception as exc:  # noqa: BLE001 - pausing is an optimization, never fatal
                log.warning("%s: pausing market data failed: %s", client.name, exc)

    # -- positions ---------------------------------------------------------------------------------
    async def fetch_leg_quantities(self, pos: PositionRow) -> tuple[Decimal, Decimal]:
        """(long size, short size) actually open on the exchanges, each in that exchange's units,
        both >= 0. Raises the exchanges' typed errors."""
        ls, ss = await asyncio.gather(
            self.clients[pos.long_exchange].fetch_position(pos.symbol),
            self.clients[pos.short_exchange].fetch_position(pos.symbol),
        )
        lq = ls.quantity if ls is not None and ls.quantity > 0 else Decimal(0)
        sq = -ss.quantity if ss is not None and ss.quantity < 0 else Decimal(0)
        return lq, sq

    async def multipliers(self, pos: PositionRow) -> tuple[Decimal, Decimal]:
        """Canonical units per exchange unit on the long and the short exchange."""
        la, sa = await asyncio.gather(
            self.clients[pos.long_exchange].contract_attributes(pos.symbol),
            self.clients[pos.short_exchange].contract_attributes(pos.symbol),
        )
        return la.multiplier, sa.multiplier

    # -- funding -----------------------------------------------------------------------------------
    async def sync_funding(self, pos: PositionRow) -> int:
        """Record every funding payment both legs of ``pos`` saw since it opened (each payment
        once, by the exchange's payment id or time); returns how many were new. An exchange
        whose history fails is logged and retried on the next call."""
        since = pos.opened_at - timedelta(seconds=1)
        new = 0
        for ex in dict.fromkeys((pos.long_exchange, pos.short_exchange)):
            new += await self.sync_funding_leg(pos.id, ex, pos.symbol, since, label=f"#{pos.id}")
        return new

    async def sync_funding_leg(self, position_id: int, exchange: str, symbol: str, since: datetime, *,
                               label: str) -> int:
        """One leg's part of :meth:`sync_funding` (also the grid's, whose position is one leg)."""
        try:
            payments = await self.clients[exchange].fetch_funding_payments(symbol, since)
        except ExchangeError as exc:
            log.warning("%s %s: funding history failed: %s", exchange, symbol, exc)
            return 0
        new = 0
        for p in payments:
            if await self.store.add_funding(position_id, exchange=exchange, symbol=symbol, amount=p.amount,
                                            rate=p.rate, ts=p.ts, payment_key=p.key):
                new += 1
                rate = f"rate {p.rate}" if p.rate is not None else "rate n/a"
                self.event(f"funding {label} {symbol} on {exchange}: {p.amount:+.4f} USD ({rate})")
        return new
