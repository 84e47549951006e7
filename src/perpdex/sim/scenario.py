"""Build a :class:`~perpdex.sim.engine.Simulation` from a scenario file (default: the bundled
``scenarios/default.yml``, calibrated on real market figures)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .engine import IndexProcess, MarketSpec, Simulation, Venue


def load_scenario(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        text = resources.files("perpdex.sim").joinpath("scenarios/default.yml").read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or "venues" not in data or "symbols" not in data:
        raise ValueError(f"scenario {path or 'default'}: needs 'symbols' and 'venues'")
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
                level_size=float(m.get("level_size", 1.0)),
                basis_bps=float(m.get("basis_bps", 0.0)),
                maker_fee=float(m.get("maker_fee", venue_cfg.get("maker_fee", 0.0))),
                taker_fee=float(m.get("taker_fee", venue_cfg.get("taker_fee", 0.0))),
                volume_24h_usd=float(m.get("volume_24h_usd", 0.0)),
                open_interest_usd=float(m.get("open_interest_usd", 0.0)),
                market_id=int(m.get("market_id", 0)),
                multiplier=int(m.get("multiplier", 1)),
            )
        )
    return specs


def build_simulation(
    venues: list[str] | None = None,
    *,
    scenario: str | Path | None = None,
    seed: int | None = None,
    funding_time_scale: float = 1.0,
    starting_balance: float | None = None,
) -> Simulation:
    """Venues named in ``venues`` (all in the scenario when None) over one seeded index process.
    ``funding_time_scale`` compresses funding schedules (720: a 1h interval pays every 5 s)."""
    data = load_scenario(scenario)
    seed = int(data.get("seed", 1) if seed is None else seed)
    index = IndexProcess({str(k): float(v) for k, v in data["symbols"].items()}, seed=seed)
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
        )
    return Simulation(out, index, tick=float(data.get("tick_seconds", 0.1)))
