"""Response models of the dashboard's read-only API (``/api/live/...``, :mod:`perpdex.api.live`).

Money is USD and rates/APRs decimal fractions, both serialized as strings (exact); sizes are in
the exchange's own units (as its orders); prices USD per exchange unit; times UTC ISO 8601; ages
in seconds. ``attached`` says whether a ``perpdex run`` process is behind the answer (its live
state) or only the store (``perpdex serve``: figures from storage, live-only parts empty).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field


class LiveAnswer(BaseModel):
    attached: bool = Field(description="A perpdex run is attached (live state); False: storage only.")
    as_of: datetime = Field(description="Time of the answer (UTC).")


class StrategyInfo(BaseModel):
    name: str = Field(description="The strategy entry's name.")
    kind: str = Field(description="funding_arb | grid.")


class StatusResponse(LiveAnswer):
    started_at: datetime | None = Field(description="When the attached run started (UTC).")
    uptime_s: float | None = Field(description="Seconds since started_at.")
    account: str | None = Field(description="The account the run trades for (run --account), None: the config's.")
    exchanges: list[str] = Field(description="Exchanges of the run (attached) or of the config.")
    strategies: list[StrategyInfo] = Field(description="Strategies of the attached run.")


class FundingCell(BaseModel):
    """One (symbol, exchange) cell of the funding heatmap."""

    symbol: str = Field(description="Canonical symbol.")
    exchange: str = Field(description="Exchange name.")
    apr: Decimal = Field(description="Funding as a simple APR, fraction per year (positive: longs pay shorts).")
    rate_per_interval: Decimal = Field(description="Funding rate per the exchange's interval, fraction.")
    rate_8h: Decimal = Field(description="The rate normalized to 8 hours, fraction.")
    interval_hours: Decimal = Field(description="The market's funding interval, hours.")
    next_funding_time: datetime | None = Field(description="Next funding time announced by the exchange (UTC).")
    mark_price: Decimal | None = Field(description="Mark price, USD per exchange unit.")


class FundingMapResponse(LiveAnswer):
    source: Literal["live", "storage", "none"] = Field(
        description="live: the attached run's last funding round; storage: the newest stored samples.")
    collected_at: datetime | None = Field(description="When the rates were read (UTC).")
    exchanges: list[str] = Field(description="Columns of the heatmap.")
    symbols: list[str] = Field(description="Rows of the heatmap.")
    cells: list[FundingCell] = Field(description="One per (symbol, exchange) with a rate.")
    errors: dict[str, str] = Field(description="Exchanges whose rates could not be read, with the reason.")


class RankedOpportunity(BaseModel):
    symbol: str
    long_exchange: str = Field(description="Exchange of the long leg (lower funding).")
    short_exchange: str = Field(description="Exchange of the short leg (higher funding).")
    spread_8h: Decimal = Field(description="short rate_8h - long rate_8h, fraction per 8 hours.")
    gross_apr: Decimal = Field(description="APR from funding alone, fraction per year.")
    fee_apr: Decimal = Field(description="Round-trip taker fees amortized over hold_hours, APR fraction.")
    net_apr: Decimal = Field(description="gross_apr - fee_apr, fraction per year.")
    held: bool = Field(description="The run holds a position in this symbol.")


class LiveOpportunitiesResponse(LiveAnswer):
    hold_hours: Decimal = Field(description="Holding time over which fees are amortized, hours.")
    min_net_apr: Decimal | None = Field(description="The strategy's entry threshold, APR fraction.")
    opportunities: list[RankedOpportunity] = Field(description="Best net APR first.")


class Leg(BaseModel):
    """One leg of a position, on one exchange."""

    role: Literal["long", "short"]
    exchange: str
    size: Decimal = Field(description="Held size, exchange units (from the stored fills).")
    entry_price: Decimal | None = Field(description="Size-weighted price of the opening fills, USD per unit.")
    mark_price: Decimal | None = Field(description="Mark price, USD per unit.")
    mark_source: str | None = Field(description="live (the run's last funding round), book (WebSocket mid), "
                                                "stored (funding history) or None.")
    unrealized_pnl: Decimal | None = Field(description="Price PnL of the leg at the mark (its fills' cash flow + "
                                                       "size * mark), USD.")
    funding: Decimal = Field(description="Funding received (+) or paid (-) on this leg, USD.")
    fees: Decimal = Field(description="Fees paid on this leg's fills, USD.")
    net: Decimal | None = Field(description="unrealized_pnl + funding - fees, USD.")
    liquidation_price: Decimal | None = Field(description="The exchange's liquidation price, USD per unit.")
    liquidation_distance: Decimal | None = Field(
        description="How far the mark may move against the leg before liquidation, fraction of the mark.")


class LivePosition(BaseModel):
    id: int
    strategy: str
    symbol: str
    status: str = Field(description="opening | open | closing | naked.")
    opened_at: datetime
    age_s: float = Field(description="Seconds since opened_at.")
    entry_net_apr: Decimal | None = Field(description="Net APR the pair was opened at, fraction.")
    legs: list[Leg]
    funding: Decimal = Field(description="Funding of both legs, USD.")
    funding_payments: int = Field(description="Funding payments recorded.")
    fees: Decimal = Field(description="Fees of both legs, USD.")
    unrealized_pnl: Decimal | None = Field(description="Price PnL of both legs at their marks, USD.")
    net: Decimal | None = Field(description="unrealized_pnl + funding - fees, USD.")


class PositionsResponse(LiveAnswer):
    positions: list[LivePosition] = Field(description="Open positions (opening, open, closing, naked), by id.")


class GridOrder(BaseModel):
    role: str = Field(description="entry | take_profit | exit | flatten.")
    side: str
    price: Decimal | None = Field(description="Limit price, USD per unit.")
    quantity: Decimal = Field(description="Order size, exchange units.")
    filled: Decimal = Field(description="Filled so far, exchange units.")
    status: str
    created_at: datetime


class GridView(BaseModel):
    name: str
    exchange: str
    symbol: str
    direction: str = Field(description="buy | sell: the side of the entries.")
    halted: bool = Field(description="Stopped (stop price breached or a liquidation).")
    paused: str | None = Field(description="Why new entries are paused, None when they are not.")
    resting_entries: list[GridOrder]
    resting_take_profits: list[GridOrder]
    round_trips: int = Field(description="Entries closed by their take-profit or an exit (FIFO).")
    closed_price_pnl: Decimal = Field(description="Price PnL of the round trips, USD.")
    fees: Decimal = Field(description="Fees of every fill, USD.")
    funding: Decimal = Field(description="Funding received (+) or paid (-), USD.")
    realized_pnl: Decimal = Field(description="closed_price_pnl - fees + funding, USD.")
    open_quantity: Decimal = Field(description="Held size, exchange units.")
    avg_entry: Decimal | None = Field(description="Size-weighted entry of the open lots, USD per unit.")
    mark_price: Decimal | None = Field(description="Mid of the WebSocket book, USD per unit.")
    unrealized_pnl: Decimal | None = Field(description="Open lots at mark_price, USD.")


class GridResponse(LiveAnswer):
    grids: list[GridView]


class FeedHealth(BaseModel):
    exchange: str
    kind: Literal["market", "user"] = Field(description="market: the order-book feed; user: the user-data stream.")
    state: str = Field(description="connected | connecting | paused (market) | stopped (user).")
    frame_age_s: float | None = Field(description="Seconds since the last frame (None before the first).")
    frames: int = Field(description="Frames received.")
    reconnects: int = Field(description="Reconnections after a lost socket.")
    books_ready: int | None = Field(description="Books served (market feed).")
    books: int | None = Field(description="Books subscribed (market feed).")


class StreamsResponse(LiveAnswer):
    streams: list[FeedHealth] = Field(description="Per exchange: the market feed, then the user stream if any.")


class EventOut(BaseModel):
    kind: str = Field(description="What the event is about (position_opened, funding, stream_down...; see "
                                  "perpdex.runtime.events.EventKind).")
    message: str
    level: str = Field(description="Logging level name.")
    ts: datetime
    strategy: str | None
    data: dict[str, Any] = Field(description="The figures that go with the event (plain JSON values).")


class EventsResponse(LiveAnswer):
    events: list[EventOut] = Field(description="Oldest first.")


class PnlPoint(BaseModel):
    ts: datetime
    pnl: Decimal = Field(description="Cumulative realized PnL up to ts, USD.")


class PnlResponse(LiveAnswer):
    points: list[PnlPoint] = Field(description="Oldest first; at most max_points (the last of each time bucket).")
    total: Decimal = Field(description="The last point's value (0 without any), USD.")
    funding: Decimal = Field(description="Funding received (+) or paid (-), USD.")
    fees: Decimal = Field(description="Fees paid, USD.")
    price_pnl: Decimal = Field(description="Price PnL of closed positions and grid round trips, USD.")
