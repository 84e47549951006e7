"""Configuration: a YAML file validated by pydantic. A bad value gets one clear error naming the
field (``ConfigError``), never a traceback.

Example (``configs/sim.yml``)::

    sim: {enabled: true, seed: 42, funding_time_scale: 720}
    exchanges:
      aster: {}                 # no URLs: the live exchange (or the emulator when sim is enabled)
      lighter: {rest_url: ..., ws_url: ...}
    strategies:
      - {kind: funding_arb, size_usd: 2000, leverage: 3, min_net_apr: 0.2}
      - {kind: grid, exchange: lighter, symbol: ETH, order_notional_usd: 50, take_profit: 0.001}
    storage: {url: sqlite+aiosqlite:///perpdex.db}

``strategies:`` is a list; each entry's ``kind`` picks its model (:class:`FundingArbConfig`,
:class:`GridConfig`), so a key of the other kind is an error naming the entry and the key
(``strategies.1.grid.size_usd``). The older ``strategy: {...}`` section still works and means one
``funding_arb`` entry (errors then name ``strategy.<field>``); giving both is an error; giving
neither means one default ``funding_arb`` entry. ``perpdex run`` runs every entry in one process.

Rates and fees are fractions (0.0005 = 5 bp); APRs are fractions per year (0.2 = 20 %); times are
seconds; sizes are USD notional.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .alerts.config import AlertsConfig
from .errors import ConfigError
from .exchanges import registry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExchangeConfig(_Strict):
    """One exchange entry. ``rest_url``/``ws_url`` override the live endpoints; ``credentials`` is
    exchange specific and never logged; ``taker_fee``/``maker_fee`` override the catalog fees."""

    rest_url: str | None = None
    ws_url: str | None = None
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    taker_fee: Decimal | None = Field(default=None, ge=0, le=Decimal("0.01"))
    maker_fee: Decimal | None = Field(default=None, ge=Decimal("-0.01"), le=Decimal("0.01"))
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    rate_limit_per_s: float | None = Field(default=None, gt=0)  # native REST budget (None: the exchange's default)
    rate_limit_burst: int | None = Field(default=None, ge=1)
    #: seconds a connected feed / user stream may stay silent (no frame, no pong) before it is
    #: treated as down and reopened (None: the exchange's default, docs/RESILIENCE.md)
    stream_silence_s: float | None = Field(default=None, gt=0)

    @field_validator("rest_url", "ws_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and v.split("://", 1)[0] not in ("http", "https", "ws", "wss"):
            raise ValueError(f"not a URL: {v!r}")
        return v.rstrip("/") if v else v


class SimMarketConfig(_Strict):
    """Where the emulator's books come from (``sim.market``): ``recording`` a ``perpdex record``
    directory replayed as the market of the exchanges and symbols it holds (the others keep the
    scenario's seeded process), paced at ``speed`` x its recorded time (wall clock); ``loop``
    starts it over at its end (else the last books are held). See docs/RECORDING.md."""

    recording: Path
    speed: float = Field(default=1.0, gt=0)
    loop: bool = False

    @field_validator("recording")
    @classmethod
    def _is_recording(cls, v: Path) -> Path:
        from .sim.recorded import check_recording  # only a config that asks for it loads the emulator

        check_recording(v)  # RecordedMarketError (a ValueError) naming the directory
        return v


class SimConfig(_Strict):
    """The in-process emulator. ``funding_time_scale`` compresses funding schedules and the
    funding estimates' process (720: a 1h interval pays every 5 s of real time);
    ``price_time_scale`` runs the index price process this many simulated seconds per real second
    (None: the scenario's, 0.1 in the default scenario); ``market``: a recording to replay as the
    market (:class:`SimMarketConfig`; None: the scenario's seeded process)."""

    enabled: bool = False
    seed: int = 42
    scenario: str | None = None
    funding_time_scale: float = Field(default=1.0, gt=0)
    price_time_scale: float | None = Field(default=None, gt=0)
    starting_balance: float | None = Field(default=None, gt=0)
    market: SimMarketConfig | None = None


class ExitConfig(_Strict):
    """When to close a position. ``min_spread_apr``: close when the live funding spread (in the
    position's favour, APR fraction) falls below it; ``max_age_s``: close after this many seconds;
    a flipped spread (negative) always closes; ``min_liquidation_distance``: close the pair when a
    leg's liquidation price (the exchange's own) is closer to its mark than this fraction (0.05 =
    5 %; 0 disables). A leg that the exchange liquidated or auto-deleveraged always closes the
    other one."""

    min_spread_apr: Decimal = Decimal("0.05")
    max_age_s: float = Field(default=7 * 24 * 3600, gt=0)
    max_funding_payments: int | None = Field(default=None, ge=1)
    min_liquidation_distance: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1)


class BackstopConfig(_Strict):
    """The exchange-side backstop of every open leg (docs/CONDITIONAL_ORDERS.md, "Backstops"): a
    reduce-only stop-market order for the leg's full size, resting on the leg's own exchange, so
    a leg is closed by the exchange even while perpdex is not running.

    * ``enabled``: place them (default true); false turns them off for this strategy entry;
    * ``fraction_to_liquidation``: the trigger sits this fraction of the way from the mark to the
      leg's liquidation price (0.5 = halfway; the exchange's reported liquidation price, else the
      pre-flight estimate);
    * ``reprice_fraction``: move the backstop (cancel + replace) when the leg's liquidation price
      moved more than this fraction of itself (0.02 = 2 %) since the backstop was placed.
    """

    enabled: bool = True
    fraction_to_liquidation: Decimal = Field(default=Decimal("0.5"), gt=0, lt=1)
    reprice_fraction: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)


class StrategyConfig(_Strict):
    """Funding arbitrage parameters.

    * ``size_usd``: notional per leg (USD); ``leverage``: wanted leverage (capped to the lower
      maximum of both exchanges);
    * ``min_net_apr``: enter only above this APR after entry+exit taker fees of both legs,
      amortized over ``hold_hours``;
    * ``min_volume_24h_usd``/``min_open_interest_usd``: liquidity filters on both exchanges;
    * ``max_positions``: concurrent positions; ``symbols``: restrict to these (all when empty);
    * ``limit_offset_ticks``/``limit_timeout_s``: entry as limit at BBO ± offset, then market;
      ``post_only``: those limit orders are post-only; ``reprice_retries``: re-posts further
      inside the spread within ``limit_timeout_s``; ``order_timeout_s``: hard timeout of one
      exchange request (an order without an answer by then is settled from the exchange's open
      orders and positions); ``unhedged_timeout_s``: longest net exposure tolerated before both
      legs go to market and the imbalance is hedged or rolled back; ``max_retry_fees_usd``: cap
      on the fees of retries (re-prices, market fallback, hedges) per execution (None: no cap);
      ``cooldown_s``: a symbol whose open failed (or hit that cap) is skipped this long;
    * ``max_slippage_bps``: the liquidity check's bound on the average fill vs the touch;
    * ``max_spread_bps``: pre-flight refuses a leg whose bid/ask spread is wider (bp of the mid);
    * ``margin_buffer``: headroom over the initial margin (notional / leverage + entry fee) each
      leg needs in available collateral (0.1 = 10 %);
    * ``min_liquidation_distance``: pre-flight refuses a leg whose estimated liquidation price at
      the chosen leverage is closer to the mark than this fraction (0.1 = 10 %); must exceed
      ``exit.min_liquidation_distance`` or a new pair would be closed at once;
    * ``scan_interval_s``: seconds between cycles;
    * ``reentry_cooldown_s``: after closing a symbol, do not reopen it for this long (no fee churn);
    * ``price_cache_ttl_s``/``price_cache_url``: the PriceProvider's depth cache TTL (seconds) and
      where it lives (None: in-process; ``redis://host:port/db``: shared between bot instances);
    * ``pause_market_data_when_idle``: pause the WebSocket books after each open/close (the exit
      rules need funding rates only) and resume them before the next pre-flight or close;
      ``market_data_idle_cooldown_s``: wait this long without trading before pausing (0: at once);
    * ``user_streams``: start each exchange's user-data stream (orders, fills, positions,
      liquidations on their own socket) so executions track fills from it, reconciled over REST;
    * ``funding_source``: ``live`` collects rates from the exchanges every cycle (and, with
      ``record_funding_history``, stores each round in the funding history); ``storage`` reads
      the newest stored samples, ignoring ones older than ``funding_max_age_s`` seconds (a
      ``perpdex serve`` on the same database collects them);
    * history filter over the stored funding history (``perpdex serve``; off by default):
      ``min_mean_spread_apr`` (mean funding spread of the pair over the last ``history_hours``
      hours, APR fraction) and ``min_persistence_hours`` (how long the spread has kept its sign
      without a break, hours; at most ``history_hours``);
    * ``backstop``: the exchange-side stop of each leg (:class:`BackstopConfig`).
    """

    size_usd: Decimal = Field(default=Decimal(1000), gt=0)
    leverage: Decimal = Field(default=Decimal(3), ge=1)
    min_net_apr: Decimal = Decimal("0.10")
    hold_hours: Decimal = Field(default=Decimal(168), gt=0)
    min_volume_24h_usd: Decimal = Decimal(0)
    min_open_interest_usd: Decimal = Decimal(0)
    max_positions: int = Field(default=1, ge=1)
    symbols: list[str] = Field(default_factory=list)
    limit_offset_ticks: int = Field(default=0, ge=0)
    limit_timeout_s: float = Field(default=3.0, gt=0)
    post_only: bool = False
    reprice_retries: int = Field(default=2, ge=0, le=20)
    order_timeout_s: float = Field(default=5.0, gt=0)
    unhedged_timeout_s: float = Field(default=2.0, gt=0)
    max_retry_fees_usd: Decimal | None = Field(default=Decimal(5), ge=0)
    cooldown_s: float = Field(default=60.0, ge=0)
    max_slippage_bps: Decimal = Field(default=Decimal(30), gt=0)
    max_spread_bps: Decimal = Field(default=Decimal(50), gt=0)
    margin_buffer: Decimal = Field(default=Decimal("0.10"), ge=0, le=10)
    min_liquidation_distance: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1)
    scan_interval_s: float = Field(default=5.0, gt=0)
    feed_ready_timeout_s: float = Field(default=10.0, gt=0)
    reentry_cooldown_s: float = Field(default=3600.0, ge=0)
    pause_market_data_when_idle: bool = True
    market_data_idle_cooldown_s: float = Field(default=0.0, ge=0)
    price_cache_ttl_s: float = Field(default=5.0, gt=0)
    price_cache_url: str | None = None
    user_streams: bool = True
    funding_source: Literal["live", "storage"] = "live"
    funding_max_age_s: float = Field(default=300.0, gt=0)
    record_funding_history: bool = True
    history_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    min_persistence_hours: float | None = Field(default=None, ge=0)
    min_mean_spread_apr: Decimal | None = None
    backstop: BackstopConfig = Field(default_factory=BackstopConfig)

    @field_validator("min_persistence_hours")
    @classmethod
    def _within_history(cls, v: float | None, info: ValidationInfo) -> float | None:
        window = info.data.get("history_hours")
        if v is not None and window is not None and v > window:
            raise ValueError(f"{v} hours cannot be seen in a history of history_hours={window}")
        return v

    @field_validator("price_cache_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a Redis URL: {v!r}")
        return v
    exit: ExitConfig = Field(default_factory=ExitConfig, validate_default=True)

    @field_validator("exit")
    @classmethod
    def _liquidation_distances(cls, v: ExitConfig, info: ValidationInfo) -> ExitConfig:
        entry = info.data.get("min_liquidation_distance")
        held = v.min_liquidation_distance
        if entry is not None and held > 0 and entry <= held:
            raise ValueError(f"min_liquidation_distance ({held}) must be below strategy.min_liquidation_distance "
                             f"({entry}), or a new pair would be closed at once")
        return v


class FundingArbConfig(StrategyConfig):
    """One ``funding_arb`` entry of ``strategies:``: the :class:`StrategyConfig` parameters plus
    ``kind`` and ``name`` (unique among the entries; default ``"funding_arb"``). Accepted wherever
    a :class:`StrategyConfig` is."""

    kind: Literal["funding_arb"] = "funding_arb"
    name: str | None = Field(default=None, min_length=1)

    @property
    def resolved_name(self) -> str:
        """``name``, or ``"funding_arb"`` when not given."""
        return self.name or "funding_arb"


class GridConfig(_Strict):
    """One ``grid`` entry of ``strategies:``: a one-sided grid on one exchange's perp.

    * ``exchange``: an enabled exchange of ``exchanges:``; ``symbol``: canonical symbol (``ETH``,
      stored upper-case); ``direction``: ``buy`` enters long and takes profit selling above,
      ``sell`` enters short and takes profit buying below;
    * entry size: exactly one of ``order_notional_usd`` (USD notional per entry) or ``quantity``
      (base units per entry);
    * ``take_profit``: the take-profit distance from the entry price (fraction of price, 0.002 =
      0.2 %); ``boost``: exit at market once that distance is reached instead of resting a
      take-profit order;
    * ``grid_step``: a new entry only when the price moved at least this fraction past the
      nearest resting take-profit's entry (fraction; None: off); ``max_orders``: most resting
      take-profit orders at once; ``wait_time_s``: cooldown base between entries (seconds);
    * ``stop_price``/``pause_price`` (USD price, optional): for a ``buy`` grid a price at or
      below ``stop_price`` is a breach (cancel every order, flatten the position, halt while
      breached) and a price at or above ``pause_price`` pauses new entries (exits go on); for a
      ``sell`` grid the reverse (breach at or above ``stop_price``, pause at or below
      ``pause_price``). So ``stop_price < pause_price`` for ``buy`` and ``stop_price >
      pause_price`` for ``sell`` when both are set;
    * ``leverage``: wanted leverage; ``max_margin_usd``: cap on the margin (position notional /
      leverage, USD) the grid may use (None: no cap);
    * ``stop_loss``: flatten when the price moved this fraction against the average entry price
      (None: off); ``max_position_age_s``: flatten a position held longer (seconds; None: off);
    * ``post_only_offset_ticks``: entries are post-only limits this many ticks behind the touch;
      ``entry_timeout_s``: an unfilled entry is cancelled after this long (seconds);
    * ``max_funding_apr_against``: no new entry while the funding rate costs the position more
      than this APR (fraction per year; None: off);
    * ``cycle_interval_s``: seconds between decision cycles; ``order_timeout_s``: hard timeout of
      one exchange request (seconds); ``feed_ready_timeout_s``: wait this long for the book at
      start (seconds); ``user_streams``: start the exchange's user-data stream;
      ``take_profit_reprice_retries``: re-posts of a take-profit the exchange refused as
      post-only crossing;
    * ``backstop``: the exchange-side reduce-only stop-market of the whole position at the
      grid's stop (``stop_price``, else the ``stop_loss`` price): only ``backstop.enabled`` applies
      to a grid (:class:`BackstopConfig`; docs/CONDITIONAL_ORDERS.md, "Backstops").

    Validation errors (``ConfigError`` via :func:`parse_config`): neither or both of
    ``order_notional_usd``/``quantity``; ``stop_price``/``pause_price`` in the wrong order for
    ``direction``.
    """

    kind: Literal["grid"]
    name: str | None = Field(default=None, min_length=1)
    exchange: str
    symbol: str = Field(min_length=1)
    direction: Literal["buy", "sell"] = "buy"
    order_notional_usd: Decimal | None = Field(default=None, gt=0)
    quantity: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal = Field(default=Decimal("0.002"), gt=0, lt=1)
    grid_step: Decimal | None = Field(default=None, ge=0)
    max_orders: int = Field(default=5, ge=1)
    wait_time_s: float = Field(default=30.0, ge=0)
    stop_price: Decimal | None = Field(default=None, gt=0)
    pause_price: Decimal | None = Field(default=None, gt=0)
    boost: bool = False
    leverage: Decimal = Field(default=Decimal(3), ge=1)
    max_margin_usd: Decimal | None = Field(default=None, gt=0)
    stop_loss: Decimal | None = Field(default=None, gt=0, lt=1)
    max_position_age_s: float | None = Field(default=None, gt=0)
    post_only_offset_ticks: int = Field(default=0, ge=0)
    entry_timeout_s: float = Field(default=10.0, gt=0)
    max_funding_apr_against: Decimal | None = Field(default=None, ge=0)
    cycle_interval_s: float = Field(default=1.0, gt=0)
    order_timeout_s: float = Field(default=5.0, gt=0)
    feed_ready_timeout_s: float = Field(default=10.0, gt=0)
    user_streams: bool = True
    take_profit_reprice_retries: int = Field(default=3, ge=0)
    backstop: BackstopConfig = Field(default_factory=BackstopConfig)

    @field_validator("symbol")
    @classmethod
    def _canonical(cls, v: str) -> str:
        return v.strip().upper()

    @model_validator(mode="after")
    def _consistent(self) -> GridConfig:
        if (self.order_notional_usd is None) == (self.quantity is None):
            raise ValueError("give exactly one of order_notional_usd (USD per entry) or quantity (base units per "
                             "entry); " + ("both were" if self.quantity is not None else "neither was") + " given")
        stop, pause = self.stop_price, self.pause_price
        if stop is not None and pause is not None:
            if self.direction == "buy" and not stop < pause:
                raise ValueError(f"a buy grid needs stop_price ({stop}) below pause_price ({pause})")
            if self.direction == "sell" and not stop > pause:
                raise ValueError(f"a sell grid needs stop_price ({stop}) above pause_price ({pause})")
        return self

    @property
    def resolved_name(self) -> str:
        """``name``, or ``grid-<exchange>-<symbol>`` (lower case) when not given."""
        return self.name or f"grid-{self.exchange}-{self.symbol}".lower()


StrategyEntry = Annotated[FundingArbConfig | GridConfig, Field(discriminator="kind")]
STRATEGY_KINDS: dict[str, type[BaseModel]] = {"funding_arb": FundingArbConfig, "grid": GridConfig}


class StorageConfig(_Strict):
    url: str = "sqlite+aiosqlite:///perpdex.db"


class MetricsConfig(_Strict):
    """``port``: serve Prometheus metrics at ``http://host:port/metrics`` during ``perpdex run``
    (None: off); ``host`` defaults to loopback."""

    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"


class AccountsConfig(_Strict):
    """``key_file``: the master key file (mode 0600) sealing account credentials, used when
    neither ``$PERPDEX_MASTER_KEY`` nor ``$PERPDEX_MASTER_KEY_FILE`` nor ``--key-file`` is given."""

    key_file: str | None = None


class ServiceConfig(_Strict):
    """``perpdex serve``: the funding-rate service and its HTTP API.

    * ``interval_s``: seconds between collection rounds (funding rates, mark prices, 24h volume,
      open interest from every enabled exchange, concurrently);
    * ``exchange_timeout_s``: bound on one exchange's part of a round (a slow or failing exchange
      is recorded as an error and the round is stored for the others); at most ``interval_s``
      (default: 20 s or ``interval_s`` if shorter);
    * ``host``/``port``: where the API listens (loopback by default);
    * ``history_hours``: default window of ``/funding-rates/{symbol}/history`` (hours);
    * ``max_sample_age_s``: samples older than this are ignored by ``/opportunities`` and make
      ``/health`` degraded (seconds, at least ``interval_s``; default: 300 s or 3 rounds if longer);
    * ``retention_hours``: delete samples older than this after each round (None: keep all);
    * ``api_token``: the token of the API and the dashboard (at least 16 characters; overridden by
      ``$PERPDEX_API_TOKEN``): without one the API only listens on loopback; with one every route
      asks for it (``Authorization: Bearer``, or the cookie of the ``/login`` form).
    """

    interval_s: float = Field(default=60.0, gt=0)
    exchange_timeout_s: float = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]  # None: derived from interval_s by the validator
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    history_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    max_sample_age_s: float = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]  # None: derived by the validator
    retention_hours: float | None = Field(default=None, gt=0)
    # the dashboard / API token (perpdex.api.auth; $PERPDEX_API_TOKEN takes precedence): required
    # to listen on a non-loopback address, then asked of every request; never logged or shown
    api_token: SecretStr | None = None

    @field_validator("api_token")
    @classmethod
    def _token_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("a token needs at least 16 characters (make one with: "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return v

    @field_validator("exchange_timeout_s", "max_sample_age_s")
    @classmethod
    def _vs_interval(cls, v: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval_s")
        if interval is None or v is None:
            return v
        if info.field_name == "exchange_timeout_s" and v > interval:
            raise ValueError(f"{v}s is longer than interval_s={interval}s (rounds would overlap)")
        if info.field_name == "max_sample_age_s" and v < interval:
            raise ValueError(f"{v}s is shorter than interval_s={interval}s (every sample would expire between rounds)")
        return v

    @model_validator(mode="after")
    def _derived_defaults(self) -> ServiceConfig:
        if self.exchange_timeout_s is None:
            self.exchange_timeout_s = min(20.0, self.interval_s)
        if self.max_sample_age_s is None:
            self.max_sample_age_s = max(300.0, 3 * self.interval_s)
        return self


class BacktestConfig(_Strict):
    """``perpdex backtest``: what the stored history cannot say.

    * ``slippage_bps``: cost of every fill of every leg (entry and exit), bp of its notional;
    * ``default_taker_fee``: the taker fee (fraction) of an exchange that has no
      ``exchanges.<name>.taker_fee`` and whose catalog was not fetched (``--offline``, or the
      exchange could not be reached);
    * ``recording``: a ``perpdex record`` directory whose books price each fill's slippage where
      they cover its market and time (docs/BACKTEST.md); ``depth_max_age_s``: how long after the
      recording's last message its last books still count.
    """

    slippage_bps: Decimal = Field(default=Decimal(2), ge=0, le=1000)
    default_taker_fee: Decimal = Field(default=Decimal("0.0005"), ge=0, le=Decimal("0.01"))
    recording: Path | None = None
    depth_max_age_s: float = Field(default=3600.0, ge=0)

    @field_validator("recording")
    @classmethod
    def _is_recording(cls, v: Path | None) -> Path | None:
        if v is not None:
            from .recording.writer import read_manifest

            if not v.is_dir():
                raise ValueError(f"{v}: no such directory")
            try:
                read_manifest(v)  # naming the file when it is not a recording
            except OSError as exc:
                raise ValueError(str(exc)) from None
        return v


def _at(where: str, message: str) -> PydanticCustomError:
    """An error that :func:`parse_config` reports at ``<field>.<where>`` (dotted, e.g. ``1.exchange``)."""
    return PydanticCustomError("perpdex_config", "{message}", {"message": message, "at": where})


class AppConfig(_Strict):
    """The whole config. ``strategies`` always holds at least one entry (see the module doc for
    the legacy ``strategy:`` section); :attr:`strategy` is the first ``funding_arb`` entry."""

    exchanges: dict[str, ExchangeConfig]
    sim: SimConfig = Field(default_factory=SimConfig)
    strategies: list[StrategyEntry] = Field(default_factory=lambda: [FundingArbConfig()])  # type: ignore[arg-type]  # mypy reads the list as list[FundingArbConfig], not list[StrategyEntry]
    storage: StorageConfig = Field(default_factory=StorageConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    log_level: str = "INFO"
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # perpdex.alerts.config, docs/ALERTS.md

    @field_validator("exchanges")
    @classmethod
    def _known(cls, v: dict[str, ExchangeConfig]) -> dict[str, ExchangeConfig]:
        if not v:
            raise ValueError("at least one exchange is needed")
        known = registry.names()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown exchange '{name}' (known: {', '.join(known)})")
        return v

    @model_validator(mode="before")
    @classmethod
    def _legacy_strategy(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "strategy" not in data:
            return data
        if data.get("strategies") is not None:
            raise _at("strategy", "give either strategy: (one funding_arb entry, the older form) or strategies: "
                      "(a list of entries), not both")
        data = dict(data)
        legacy = data.pop("strategy")
        if legacy is None:
            return data
        data["strategies"] = [{"kind": "funding_arb", **legacy} if isinstance(legacy, dict) else legacy]
        return data

    @field_validator("strategies", mode="before")
    @classmethod
    def _default_entry(cls, v: Any) -> Any:
        if v is None:
            return [FundingArbConfig()]
        if isinstance(v, list) and not v:
            raise ValueError("at least one strategy entry is needed (leave strategies: out for one default "
                             "funding_arb entry)")
        return v

    @field_validator("strategies")
    @classmethod
    def _names_and_exchanges(cls, v: list[FundingArbConfig | GridConfig],
                             info: ValidationInfo) -> list[FundingArbConfig | GridConfig]:
        exchanges: dict[str, ExchangeConfig] | None = info.data.get("exchanges")
        enabled = [n for n, e in exchanges.items() if e.enabled] if exchanges is not None else None
        seen: dict[str, int] = {}
        for i, entry in enumerate(v):
            name = entry.resolved_name
            if name in seen:
                raise _at(f"{i}.{entry.kind}.name", f"strategy name {name!r} is used by entries {seen[name]} and {i}: "
                          "give each entry its own name")
            seen[name] = i
            if isinstance(entry, GridConfig) and enabled is not None and entry.exchange not in enabled:
                raise _at(f"{i}.grid.exchange", f"{entry.exchange!r} is not an enabled exchange of exchanges: "
                          f"(enabled: {', '.join(enabled) or 'none'})")
        return v

    @property
    def enabled_exchanges(self) -> list[str]:
        return [n for n, e in self.exchanges.items() if e.enabled]

    @property
    def strategy(self) -> FundingArbConfig:
        """The first ``funding_arb`` entry, or a default one when every entry is of another kind
        (``perpdex scan`` and the API read their thresholds from it)."""
        return next((s for s in self.strategies if isinstance(s, FundingArbConfig)), None) or FundingArbConfig()


def parse_config(data: Any, source: str = "config") -> AppConfig:
    """Validate a mapping; raises :class:`ConfigError` naming the first bad field."""
    if not isinstance(data, dict):
        raise ConfigError("<root>", f"{source} must be a mapping, got {type(data).__name__}")
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        legacy = "strategy" in data and data.get("strategies") is None
        field, message = _describe(exc.errors()[0], legacy)
        raise ConfigError(field, message) from None


def _describe(err: Any, legacy: bool) -> tuple[str, str]:
    """(dotted field, message) of one pydantic error, in the config's own terms."""
    loc: list[Any] = list(err["loc"])
    ctx = err.get("ctx") or {}
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "perpdex_config":
        loc += ctx["at"].split(".")
        message = ctx["message"]
    elif loc[:1] == ["strategies"] and len(loc) == 2 and err["type"] in ("union_tag_not_found", "union_tag_invalid"):
        loc.append("kind")
        kinds = ", ".join(STRATEGY_KINDS)
        message = (f"{ctx.get('tag')!r} is not a strategy kind (kinds: {kinds})" if err["type"] == "union_tag_invalid"
                   else f"missing: each strategies: entry needs a kind ({kinds})")
    elif loc[:1] == ["strategies"] and len(loc) == 4 and err["type"] == "extra_forbidden":
        kind, key = loc[2], loc[3]
        others = [k for k, model in STRATEGY_KINDS.items() if k != kind and key in model.model_fields]
        if others:
            message += f" ({key} is a {' / '.join(others)} key; this entry's kind is {kind})"
    if legacy and loc[:2] == ["strategies", 0]:
        loc = ["strategy", *loc[3:]]  # the older section: errors name strategy.<field>
    return ".".join(str(p) for p in loc) or "<root>", message


#: where a command looks for its config when ``--config`` is not given, in this order
DEFAULT_CONFIG_PATHS: tuple[Path, ...] = (Path("perpdex.yml"), Path("~/.config/perpdex/config.yml"))


def default_config_path() -> Path:
    """The first of :data:`DEFAULT_CONFIG_PATHS` that exists (``~`` expanded); raises
    :class:`ConfigError` naming ``--config`` and both places when neither does."""
    for candidate in DEFAULT_CONFIG_PATHS:
        p = candidate.expanduser()
        if p.exists():
            return p
    raise ConfigError("--config", "no config given, and none at "
                      + " or ".join(str(c) for c in DEFAULT_CONFIG_PATHS)
                      + " (pass --config FILE; configs/sim.yml runs the emulator)")


def load_config(path: str | Path | None) -> AppConfig:
    """Read and validate a YAML config file (None: :func:`default_config_path`); raises
    :class:`ConfigError`."""
    p = Path(path) if path is not None else default_config_path()
    if not p.exists():
        raise ConfigError("<file>", f"{p} does not exist")
    if not p.is_file():
        raise ConfigError("<file>", f"{p} is not a file")
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ConfigError("<file>", f"{p} is not a text file (YAML expected)") from None
    except OSError as exc:
        raise ConfigError("<file>", f"{p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("<file>", f"{p} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_config(data, str(p))
