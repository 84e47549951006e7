"""Response models of the funding-rate API. Rates and APRs are decimal fractions serialized as
strings (exact): 0.0001 = 0.01 % per interval, 0.25 APR = 25 % per year. Times are UTC ISO 8601;
ages and durations in seconds or hours as the field name says; money in USD."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class HistorySample(BaseModel):
    """One stored sample of a symbol on an exchange."""

    exchange: str = Field(description="Exchange name as configured.")
    collected_at: datetime = Field(description="When perpdex read the sample (UTC); one collection round shares it.")
    rate_per_interval: Decimal = Field(
        description="Funding rate as a fraction per the exchange's funding interval (positive: longs pay shorts).")
    interval_hours: Decimal = Field(description="The exchange's funding interval for this market, hours.")
    rate_8h: Decimal = Field(description="rate_per_interval normalized to 8 hours (rate_per_interval * 8 / interval_hours).")
    mark_price: Decimal | None = Field(description="Mark price, quote units (USD) per exchange unit.")
    volume_24h_usd: Decimal | None = Field(description="Traded volume over 24 hours, USD.")
    open_interest_usd: Decimal | None = Field(description="Open interest, USD.")


class FundingRate(HistorySample):
    """The newest stored sample of one symbol on one exchange."""

    symbol: str = Field(description="Canonical symbol (base asset, e.g. BTC).")
    age_s: float = Field(description="Seconds since collected_at at the time of the answer.")
    rate_hourly: Decimal = Field(description="rate_per_interval per hour (rate_per_interval / interval_hours).")
    apr: Decimal = Field(description="Simple annualized rate, fraction per year (rate_hourly * 8760).")
    next_funding_time: datetime | None = Field(description="Next funding time announced by the exchange (UTC).")


class FundingRatesResponse(BaseModel):
    as_of: datetime = Field(description="Time of the answer (UTC).")
    count: int = Field(description="Number of rates.")
    rates: list[FundingRate] = Field(description="Newest sample per (exchange, symbol), by exchange then symbol.")


class PairStatistics(BaseModel):
    """A long/short pair's funding spread over the window (spread_8h = rate_8h(short) - rate_8h(long)
    per collection round holding both exchanges)."""

    long_exchange: str = Field(description="Exchange of the long leg (lower funding).")
    short_exchange: str = Field(description="Exchange of the short leg (higher funding).")
    hours: float = Field(description="Window length, hours.")
    samples: int = Field(description="Collection rounds in the window with a sample on both exchanges.")
    first_at: datetime | None = Field(description="First paired round (UTC).")
    last_at: datetime | None = Field(description="Last paired round (UTC).")
    mean_spread_8h: Decimal | None = Field(description="Mean spread, fraction per 8 hours.")
    mean_spread_hourly: Decimal | None = Field(description="Mean spread, fraction per hour.")
    mean_spread_apr: Decimal | None = Field(description="Mean spread, APR fraction (mean_spread_8h / 8 * 8760).")
    last_spread_8h: Decimal | None = Field(description="Spread in the last paired round, fraction per 8 hours.")
    persistence_hours: float = Field(
        description="Hours the spread has stayed positive in every round up to the last one (last round minus "
                    "the first round of that unbroken run; 0 when the last round is not positive).")


class HistoryPoint(HistorySample):
    """A stored sample (``samples`` 1), or the average of the samples of one exchange in one time
    bucket of a downsampled window (``collected_at`` the first of them; rates, mark price, volume
    and open interest their means to 10 significant digits, ``interval_hours`` the longest)."""

    samples: int = Field(description="Stored samples this point stands for (1: the sample itself).")


class FundingHistoryResponse(BaseModel):
    symbol: str = Field(description="Canonical symbol.")
    hours: float = Field(description="Window length, hours, ending at as_of.")
    as_of: datetime = Field(description="End of the window (UTC).")
    max_points: int = Field(description="At most this many samples per exchange were asked for.")
    resolution_s: int | None = Field(
        description="None: every stored sample of the window; else the width of the time buckets (seconds, aligned "
                    "to multiples of it since 1970-01-01 UTC) whose averages the samples are.")
    samples: list[HistoryPoint] = Field(description="Samples (or bucket averages) in the window, oldest first.")
    pairs: list[PairStatistics] = Field(
        description="Every exchange pair seen in the window, long the exchange with the lower mean rate_8h, "
                    "highest mean spread first.")


class Opportunity(BaseModel):
    """A delta-neutral pair: long where funding is lower, short where it is higher."""

    symbol: str = Field(description="Canonical symbol.")
    long_exchange: str = Field(description="Exchange of the long leg.")
    short_exchange: str = Field(description="Exchange of the short leg.")
    long_rate_8h: Decimal = Field(description="Long leg's funding rate per 8 hours, fraction.")
    short_rate_8h: Decimal = Field(description="Short leg's funding rate per 8 hours, fraction.")
    spread_8h: Decimal = Field(description="short_rate_8h - long_rate_8h, fraction per 8 hours.")
    gross_apr: Decimal = Field(description="APR from funding alone (spread_8h / 8 * 8760).")
    fee_cost: Decimal = Field(description="Round-trip taker fees of both legs, fraction of the notional.")
    fee_apr: Decimal = Field(description="fee_cost amortized over hold_hours, APR fraction.")
    net_apr: Decimal = Field(description="gross_apr - fee_apr, fraction per year.")
    min_volume_24h_usd: Decimal | None = Field(description="Lower 24h volume of the two exchanges, USD.")
    min_open_interest_usd: Decimal | None = Field(description="Lower open interest of the two exchanges, USD.")
    history: PairStatistics | None = Field(description="The pair's statistics over history_hours.")


class OpportunitiesResponse(BaseModel):
    as_of: datetime = Field(description="Time of the answer (UTC).")
    hold_hours: Decimal = Field(description="Holding time over which fees are amortized, hours.")
    history_hours: float = Field(description="Window of the history statistics and filter, hours.")
    max_sample_age_s: float = Field(description="Samples older than this many seconds were ignored.")
    count: int = Field(description="Number of opportunities returned.")
    opportunities: list[Opportunity] = Field(description="Best net APR first.")
    skipped_exchanges: dict[str, str] = Field(description="Exchanges left out of the ranking, with the reason.")


class ExchangeHealth(BaseModel):
    exchange: str = Field(description="Exchange name.")
    ok: bool = Field(description="Last round succeeded and the last success is within max_sample_age_s.")
    last_success_at: datetime | None = Field(description="Last successful collection (UTC).")
    last_success_age_s: float | None = Field(description="Seconds since last_success_at.")
    errors: int = Field(description="Failed collections since the service started.")
    consecutive_errors: int = Field(description="Failed collections since the last success.")
    last_error: str | None = Field(description="The last failure's message.")
    last_error_at: datetime | None = Field(description="When the last failure happened (UTC).")
    samples_last_round: int = Field(description="Symbols stored from this exchange in the last round.")
    taker_fee: Decimal | None = Field(description="Taker fee used for ranking, fraction (None: not known yet).")


class AlertChannelHealth(BaseModel):
    name: str = Field(description="The channel's name (alerts.channels[].name).")
    type: Literal["telegram", "webhook"] = Field(description="The channel's type.")
    sent: int = Field(description="Alerts the receiver accepted.")
    failed: int = Field(description="Alerts given up after the retries.")
    retries: int = Field(description="Send attempts repeated after a failure.")
    dropped: int = Field(description="Alerts dropped from the full queue (the oldest) or left unsent at exit.")
    suppressed: int = Field(description="Alerts suppressed as duplicates within alerts.dedupe_window_s.")
    rate_limited: int = Field(description="Alerts held back by the channel's rate limit (then sent).")
    queued: int = Field(description="Alerts waiting to be sent.")
    last_sent_at: datetime | None = Field(default=None, description="Time of the last alert accepted (UTC).")
    last_error: str | None = Field(default=None, description="Why the last failed alert failed (no secrets).")
    last_error_at: datetime | None = Field(default=None, description="Time of that failure (UTC).")


class StreamDown(BaseModel):
    exchange: str = Field(description="The exchange.")
    stream: str = Field(description="feed (market data) or user (user data).")
    since: datetime = Field(description="When it went down (UTC).")
    alerted: bool = Field(description="Down longer than alerts.stream_down_s: the alert was sent.")


class AlertsHealth(BaseModel):
    running: bool = Field(description="The notifier's sending tasks are running.")
    channels: list[AlertChannelHealth] = Field(description="Counters per channel.")
    streams_down: list[StreamDown] = Field(description="Feed and user-stream outages under way.")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok when every exchange is ok, else degraded.")
    collecting: bool = Field(description="The collection loop is running.")
    rounds: int = Field(description="Collection rounds since the service started.")
    last_round_at: datetime | None = Field(description="Time of the last round (UTC).")
    interval_s: float = Field(description="Seconds between collection rounds.")
    max_sample_age_s: float = Field(description="Samples older than this many seconds count as stale.")
    store_errors: int = Field(description="Rounds whose storage failed.")
    exchanges: list[ExchangeHealth] = Field(description="Per configured exchange.")
    alerts: AlertsHealth | None = Field(default=None, description="The alert notifier's counters, when one runs "
                                        "(perpdex run with alerts.channels).")
    exchanges_down: int = Field(0, description="Exchanges not ok (last round failed or no recent success): down, "
                                               "left out of the opportunities until they answer again.")
