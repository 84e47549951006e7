"""The emulator's market process: a seeded index price per symbol that alternates ranges and
trends, and a seeded funding estimate per (venue, symbol) that mean-reverts to the scenario's rate
with occasional regime shifts (some of which change its sign).

Both are pure step functions over immutable states: :func:`index_step` and :func:`funding_step`
take a state, a time step ``dt`` in **simulated seconds** and a :class:`random.Random`, and return
the next state. No wall clock is read: the same seed and the same sequence of ``dt`` give the same
path, so tests can run weeks of market in a fraction of a second.

Index price (per symbol), on the log price ``x = ln(price)``, ``σ = vol / √(seconds per year)``:

* range: Ornstein-Uhlenbeck toward the level where the range began,
  ``x ← L + (x − L)·e^(−dt/τ) + σ·√(τ/2·(1 − e^(−2dt/τ)))·Z`` (band std ``σ·√(τ/2)``);
* trend: ``x ← x + μ·dt + σ·√dt·Z`` with ``|μ| = k·σ/√T`` (``T`` the mean trend length, ``k``
  drawn per trend from ``trend_strength``: a trend of mean length moves ``k`` noise-sigmas net);
* a regime lasts ``min_regime_s + Exp`` seconds (mean ``range_mean_s`` / ``trend_mean_s``); a range
  is followed by a trend (direction at random), a trend by a range or, with
  ``trend_continue_prob``, by another trend.

Funding estimate (per venue and symbol), as a rate per **hour** (fraction; the venue quotes it
per interval, ``rate × interval_hours``):

* held at the scenario's rate for ``hold_s`` (a known starting snapshot), then
* Ornstein-Uhlenbeck toward a target, ``r ← m + (r − m)·e^(−dt/τ) + s·√(1 − e^(−2dt/τ))·Z`` with
  stationary std ``s = max(noise_rel·|base|, noise_floor)``, clamped to ``±cap``;
* the target is ``base`` or, in a shifted regime (probability ``shift_prob`` at each regime change),
  ``base + N(0, max(shift_rel·|base|, shift_floor))``; regimes last ``min_regime_s + Exp`` seconds
  (mean ``regime_mean_s``). Shifts are zero-mean, so the long-run average is the base rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

SECONDS_PER_YEAR = 365 * 86_400


def _duration(min_s: float, mean_s: float, rng: random.Random) -> float:
    """A regime length in seconds: ``min_s`` plus an exponential tail, mean ``max(mean_s, min_s)``."""
    tail = max(mean_s - min_s, 0.0)
    return min_s + (rng.expovariate(1.0 / tail) if tail > 0 else 0.0)


# --------------------------------------------------------------------------------------------------
# Index price
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexParams:
    """Regime model of one symbol's index price. ``vol``: annualized volatility of the log price
    (0.5 = 50 % per √year); every duration in simulated seconds; ``trend_strength``: (low, high)
    net move of a mean-length trend in noise-sigmas, drawn uniformly per trend."""

    vol: float = 0.8
    range_reversion_s: float = 600.0
    range_mean_s: float = 3 * 3600.0
    trend_mean_s: float = 1.5 * 3600.0
    min_regime_s: float = 900.0
    trend_strength: tuple[float, float] = (1.5, 3.5)
    trend_continue_prob: float = 0.25

    @property
    def sigma(self) -> float:
        """Noise of the log price per √(simulated second)."""
        return self.vol / math.sqrt(SECONDS_PER_YEAR)


@dataclass(frozen=True)
class IndexState:
    """``price`` USD per base unit; ``regime`` "range" | "trend"; ``level`` the log price a range
    reverts to; ``drift`` a trend's log-price drift per simulated second (0 in a range);
    ``regime_left_s`` and ``t`` (time since the start) in simulated seconds."""

    price: float
    regime: str
    level: float
    drift: float
    regime_left_s: float
    t: float = 0.0


def _enter(kind: str, state: IndexState, params: IndexParams, rng: random.Random) -> IndexState:
    if kind == "range":
        return replace(state, regime="range", level=math.log(state.price), drift=0.0,
                       regime_left_s=_duration(params.min_regime_s, params.range_mean_s, rng))
    lo, hi = params.trend_strength
    k = rng.uniform(lo, hi) * (1 if rng.random() < 0.5 else -1)
    drift = k * params.sigma / math.sqrt(max(params.trend_mean_s, 1.0))
    return replace(state, regime="trend", level=math.log(state.price), drift=drift,
                   regime_left_s=_duration(params.min_regime_s, params.trend_mean_s, rng))


def initial_index_state(price: float, params: IndexParams, rng: random.Random) -> IndexState:
    """A range at ``price`` (USD), of a freshly drawn length. Raises ValueError on a price <= 0."""
    if price <= 0:
        raise ValueError(f"index price must be positive, got {price!r}")
    return _enter("range", IndexState(price, "range", 0.0, 0.0, 0.0), params, rng)


def reanchor(state: IndexState, price: float) -> IndexState:
    """The state moved to ``price`` by hand (a test or a scenario event): a range now reverts to
    the new price, a trend carries on from it."""
    if state.regime == "range":
        return replace(state, price=price, level=math.log(price))
    return replace(state, price=price)


def index_step(state: IndexState, params: IndexParams, dt: float, rng: random.Random) -> IndexState:
    """Advance ``dt`` simulated seconds (one Gaussian draw, more on a regime change); ``dt <= 0``
    returns ``state`` unchanged."""
    if dt <= 0:
        return state
    sigma = params.sigma
    x = math.log(state.price)
    z = rng.gauss(0.0, 1.0)
    if state.regime == "trend":
        x += state.drift * dt + sigma * math.sqrt(dt) * z
    else:
        tau = params.range_reversion_s
        a = math.exp(-dt / tau)
        x = state.level + (x - state.level) * a + sigma * math.sqrt(tau / 2.0 * (1.0 - a * a)) * z
    out = replace(state, price=math.exp(x), regime_left_s=state.regime_left_s - dt, t=state.t + dt)
    if out.regime_left_s <= 0:
        if out.regime == "range" or rng.random() < params.trend_continue_prob:
            out = _enter("trend", out, params, rng)
        else:
            out = _enter("range", out, params, rng)
    return out


# --------------------------------------------------------------------------------------------------
# Funding estimate
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FundingParams:
    """Funding-estimate model of one market. Rates are fractions **per hour** (``base``: the
    scenario's rate divided by its interval hours); durations in simulated seconds."""

    base: float = 0.0
    hold_s: float = 24 * 3600.0
    reversion_s: float = 12 * 3600.0
    noise_rel: float = 0.25
    noise_floor: float = 5e-6
    regime_mean_s: float = 48 * 3600.0
    min_regime_s: float = 12 * 3600.0
    shift_prob: float = 0.5
    shift_rel: float = 1.2
    shift_floor: float = 3e-5
    cap: float = 0.03 / 8

    @property
    def noise(self) -> float:
        """Stationary standard deviation of the rate around its target, per hour."""
        return max(self.noise_rel * abs(self.base), self.noise_floor)

    @property
    def shift_sd(self) -> float:
        """Standard deviation of a shifted regime's target around ``base``, per hour."""
        return max(self.shift_rel * abs(self.base), self.shift_floor)


@dataclass(frozen=True)
class FundingState:
    """``rate`` and ``target`` per hour (fractions); ``hold_left_s``, ``regime_left_s`` and ``t``
    (time since the start) in simulated seconds."""

    rate: float
    target: float
    hold_left_s: float
    regime_left_s: float
    t: float = 0.0


def initial_funding_state(params: FundingParams, rng: random.Random) -> FundingState:
    """At the base rate, held for ``params.hold_s``; the first regime's length is drawn now."""
    return FundingState(params.base, params.base, params.hold_s,
                        _duration(params.min_regime_s, params.regime_mean_s, rng))


def funding_step(state: FundingState, params: FundingParams, dt: float, rng: random.Random) -> FundingState:
    """Advance ``dt`` simulated seconds. No draw while the hold lasts; then one Gaussian draw per
    step, more on a regime change. ``dt <= 0`` returns ``state`` unchanged."""
    if dt <= 0:
        return state
    t = state.t + dt
    if state.hold_left_s > 0:
        left = state.hold_left_s - dt
        if left > 0:
            return replace(state, hold_left_s=left, t=t)
        state, dt = replace(state, hold_left_s=0.0), -left
        if dt <= 0:
            return replace(state, t=t)
    a = math.exp(-dt / params.reversion_s)
    rate = state.target + (state.rate - state.target) * a + params.noise * math.sqrt(1.0 - a * a) * rng.gauss(0.0, 1.0)
    rate = min(max(rate, -params.cap), params.cap)
    out = replace(state, rate=rate, regime_left_s=state.regime_left_s - dt, t=t)
    if out.regime_left_s <= 0:
        target = params.base
        if rng.random() < params.shift_prob:
            target += rng.gauss(0.0, params.shift_sd)
        out = replace(out, target=min(max(target, -params.cap), params.cap),
                      regime_left_s=_duration(params.min_regime_s, params.regime_mean_s, rng))
    return out
