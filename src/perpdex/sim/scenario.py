"""Build a :class:`~perpdex.sim.engine.Simulation` from a scenario file (default: the bundled
``scenarios/default.yml``, calibrated on real market figures)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .catalog import generate_catalog
from .engine import IndexProcess, MarketSpec, Simulation, Venue
from .market import FundingParams, IndexParams

GENERATORS = {"catalog": generate_catalog}
BUNDLED = ("default", "large")


def _read(path: str | Path | None) -> tuple[str, str]:
    """(text, label) of a scenario: None -> the bundled ``default``; a bundled name (``"large"``)
    -> ``scenarios/<name>.yml`` of this package; anything else -> a YAML file path."""
    name = "default" if path is None else str(path)
    if name in BUNDLED:
        return resources.files("perpdex.sim").joinpath(f"scenarios/{name}.yml").read_text(), name
    p = Path(name)
    if not p.exists():
        raise ValueError(f"scenario {name}: no such file (bundled scenarios: {', '.join(BUNDLED)})")
    return p.read_text(), name


def load_scenario(path: str | Path | None = None) -> dict[str, Any]:
    """The scenario ``path`` (a YAML file, or a bundled name: ``default`` when None, ``large``) as a
    dict with ``symbols`` and ``venues``. A scenario with ``generator: catalog`` is generated
    (:func:`perpdex.sim.catalog.generate_catalog`) from its ``params`` on top of its ``base``
    scenario (a bundled name or a path; default ``default``). Raises ValueError naming what is
    missing or unknown."""
    text, label = _read(path)
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "generator" in data:
        if data["generator"] not in GENERATORS:
            raise ValueError(f"scenario {label}: unknown generator {data['generator']!r} "
                             f"(known: {', '.join(GENERATORS)})")
        if not isinstance(data.get("params"), dict):
            raise ValueError(f"scenario {label}: generator {data['generator']!r} needs a 'params' mapping")
        base_name = data.get("base", "default")
        base = load_scenario(base_name) if base_name else {}
        base.update({k: v for k, v in data.items() if k not in ("generator", "params", "base")})
        data = GENERATORS[data["generator"]](data["params"], base)
    if not isinstance(data, dict) or "venues" not in data or "symbols" not in data:
        raise ValueError(f"scenario {label}: needs 'symbols' and 'venues'")
    return data


def market_specs(venue_cfg: dict[str, Any]) -> list[MarketSpec]:
    specs = []
    for sym, m in venue_cfg["markets"].items():
        specs.append(
            MarketSpec(
                symbol=str(sym),
                tick_size=Decimal(str(m["tick"])),
                lot_size=Decimal(str(m["lot"])),
                min_size=Decimal(str(m.get("min_size", m["lot"]))),
                min_notional=Decimal(str(m.get("min_notional", "0"))),
                max_leverage=int(m.get("max_leverage", 20)),
                funding_rate=float(m.get("funding_rate", 0.0)),
                funding_interval_hours=float(m.get("interval_hours", 8)),
                spread_ticks=int(m.get("spread_ticks", 1)),
                levels=int(m.get("levels", 50)),
                level_gap_ticks=int(m.get("level_gap_ticks", 1)),
                level_size=float(m.get("level_size", 1.0)),
                basis_bps=float(m.get("basis_bps", 0.0)),
                maker_fee=float(m.get("maker_fee", venue_cfg.get("maker_fee", 0.0))),
                taker_fee=float(m.get("taker_fee", venue_cfg.get("taker_fee", 0.0))),
                volume_24h_usd=float(m.get("volume_24h_usd", 0.0)),
                open_interest_usd=float(m.get("open_interest_usd", 0.0)),
                market_id=int(m.get("market_id", 0)),
                multiplier=int(m.get("multiplier", 1)),
                refresh_ticks=int(m.get("refresh_ticks", 1)),
            )
        )
    return specs


def _seconds(cfg: dict[str, Any], key: str, unit_s: float, default: float) -> float:
    return float(cfg[key]) * unit_s if key in cfg else default


def index_params(cfg: dict[str, Any] | None, vol: float | None = None) -> IndexParams:
    """The scenario's ``index_process`` section (keys: ``range_reversion_minutes``,
    ``range_minutes``, ``trend_minutes``, ``min_regime_minutes`` (mean durations, simulated
    minutes), ``trend_strength`` [low, high] noise-sigmas, ``trend_continue_prob``) with a
    symbol's annualized ``vol``; missing keys keep the :class:`IndexParams` defaults."""
    cfg, d = cfg or {}, IndexParams()
    strength = cfg.get("trend_strength", d.trend_strength)
    return IndexParams(
        vol=float(vol if vol is not None else cfg.get("vol", d.vol)),
        range_reversion_s=_seconds(cfg, "range_reversion_minutes", 60, d.range_reversion_s),
        range_mean_s=_seconds(cfg, "range_minutes", 60, d.range_mean_s),
        trend_mean_s=_seconds(cfg, "trend_minutes", 60, d.trend_mean_s),
        min_regime_s=_seconds(cfg, "min_regime_minutes", 60, d.min_regime_s),
        trend_strength=(float(strength[0]), float(strength[1])),
        trend_continue_prob=float(cfg.get("trend_continue_prob", d.trend_continue_prob)),
    )


def funding_params(cfg: dict[str, Any] | None | bool) -> FundingParams | None:
    """The scenario's ``funding_process`` section (keys: ``hold_hours``, ``reversion_hours``,
    ``regime_hours``, ``min_regime_hours`` (simulated hours), ``noise_rel``, ``shift_prob``,
    ``shift_rel``, and per-hour rates ``noise_floor_per_hour``, ``shift_floor_per_hour``,
    ``cap_per_hour``); ``false`` or ``{enabled: false}`` fixes every estimate (None)."""
    if cfg is False or (isinstance(cfg, dict) and cfg.get("enabled") is False):
        return None
    cfg, d = cfg if isinstance(cfg, dict) else {}, FundingParams()
    return FundingParams(
        hold_s=_seconds(cfg, "hold_hours", 3600, d.hold_s),
        reversion_s=_seconds(cfg, "reversion_hours", 3600, d.reversion_s),
        noise_rel=float(cfg.get("noise_rel", d.noise_rel)),
        noise_floor=float(cfg.get("noise_floor_per_hour", d.noise_floor)),
        regime_mean_s=_seconds(cfg, "regime_hours", 3600, d.regime_mean_s),
        min_regime_s=_seconds(cfg, "min_regime_hours", 3600, d.min_regime_s),
        shift_prob=float(cfg.get("shift_prob", d.shift_prob)),
        shift_rel=float(cfg.get("shift_rel", d.shift_rel)),
        shift_floor=float(cfg.get("shift_floor_per_hour", d.shift_floor)),
        cap=float(cfg.get("cap_per_hour", d.cap)),
    )


def index_process(data: dict[str, Any], seed: int, time_scale: float | None = None, tick: float = 0.1) -> IndexProcess:
    """The scenario's index: ``symbols`` maps a symbol to its start price (USD) or to
    ``{price, vol}`` (vol annualized); ``time_scale`` (default: ``index_process.time_scale``, else 1)
    is simulated seconds per real second of the price clock."""
    section = data.get("index_process") or {}
    prices: dict[str, float] = {}
    params: dict[str, IndexParams] = {}
    for sym, v in data["symbols"].items():
        spec = v if isinstance(v, dict) else {"price": v}
        prices[str(sym)] = float(spec["price"])
        params[str(sym)] = index_params(section, spec.get("vol"))
    scale = float(section.get("time_scale", 1.0) if time_scale is None else time_scale)
    return IndexProcess(prices, seed=seed, params=params, time_scale=scale, tick=tick)


def build_simulation(
    venues: list[str] | None = None,
    *,
    scenario: str | Path | None = None,
    seed: int | None = None,
    funding_time_scale: float = 1.0,
    starting_balance: float | None = None,
    price_time_scale: float | None = None,
) -> Simulation:
    """Venues named in ``venues`` (all in the scenario when None) over one seeded index process.
    ``funding_time_scale`` compresses funding schedules and the funding estimates' process (720: a
    1h interval pays every 5 s); ``price_time_scale`` compresses the index process (simulated
    seconds per real second; default the scenario's ``index_process.time_scale``, else 1)."""
    data = load_scenario(scenario)
    seed = int(data.get("seed", 1) if seed is None else seed)
    tick = float(data.get("tick_seconds", 0.1))
    index = index_process(data, seed, price_time_scale, tick)
    funding = funding_params(data.get("funding_process", {}))
    out: dict[str, Venue] = {}
    for name, vcfg in data["venues"].items():
        if venues is not None and name not in venues:
            continue
        out[name] = Venue(
            name,
            market_specs(vcfg),
            index,
            seed=seed,
            starting_balance=float(starting_balance if starting_balance is not None else data.get("starting_balance", 100_000)),
            funding_time_scale=funding_time_scale,
            funding=funding,
            tick=tick,
        )
    return Simulation(out, index, tick=tick)
