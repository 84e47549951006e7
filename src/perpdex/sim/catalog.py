"""Generate a scenario with catalogs the size of the real exchanges' (hundreds of perps each).

A bundled scenario names this generator (``generator: catalog``) with its ``params``; the result
is an ordinary scenario dict (``symbols`` and ``venues``, see :mod:`perpdex.sim.scenario`), the
same for the same parameters on every machine (every draw comes from one ``random.Random`` seeded
with ``params["seed"]``).

The catalog is a ranked universe of symbols (rank 0 is the biggest market):

* the **base** scenario's markets (default: ``default.yml``, calibrated on real figures) keep every
  figure they have there, on every venue that lists them there;
* the other **head** symbols (well-known tickers, ranks below ``head``) are listed on every venue
  with deep books one or two ticks wide, majors' leverage and funding near the 1e-4 per 8 h
  baseline;
* the **tail** (synthetic tickers) gets thin books (few levels, a few USD to a few thousand USD a
  level, spreads of ``tail_spread_bps``, levels several ticks apart, requoted every few market
  steps rather than every step), small and varied volumes
  (24 h volume falls as a power of the rank, ``volume.zipf``, times lognormal noise; open interest
  a fraction of it) and funding whose dispersion widens with the rank, part shared by every venue
  and part each venue's own, heavy-tailed (Student t, 3 degrees of freedom) and capped;
* each venue lists its ``listed`` best-scored symbols, the score being the rank plus venue noise,
  so every venue has its own long tail (not every symbol on every exchange);
* exchange conventions: funding intervals per venue (``intervals``: hours -> share of the tail;
  the head pays every ``head_interval_hours``), bundles of 1 000 below ``bundle_below_usd``
  (``1000PEPEUSDT``, ``kPEPE-USD-PERP``), minimum notional or size, Lighter market ids (the base
  scenario's ids kept, new ids filling the gaps in rank order).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

#: Well-known tickers ranked after the base scenario's (facts: these coins are listed as perps on
#: the exchanges); ``price`` hints only where a coin trades in bundles.
HEAD_TICKERS = (
    "LINK", "AVAX", "ADA", "SUI", "HYPE", "LTC", "BCH", "TRX", "TON", "DOT", "NEAR", "APT", "ARB", "OP",
    "UNI", "ENA", "TIA", "SEI", "WIF", "JUP", "ONDO", "TAO", "WLD", "FET", "LDO", "PENDLE", "ATOM", "FIL",
    "ETC", "1INCH", "PEPE", "BONK", "SHIB", "FLOKI", "STX", "IMX", "RENDER", "POL", "KAIA", "JTO",
)
BUNDLE_PRICES = {"PEPE": 0.0000105, "BONK": 0.0000215, "SHIB": 0.0000123, "FLOKI": 0.0000912}

_CONSONANTS = "BCDFGHJKLMNPRSTVWXZ"
_VOWELS = "AEIOUY"
_QUOTE_ENDINGS = ("USD", "USDT", "USDC", "USD1", "PERP")


def _pow10(exponent: int) -> str:
    """``10**exponent`` as a plain decimal string (``-3`` -> ``"0.001"``, ``1`` -> ``"10"``)."""
    return format(Decimal(1).scaleb(exponent), "f")


def _sig(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` significant digits."""
    if x == 0:
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _student_t3(rng: random.Random) -> float:
    """A Student t draw with 3 degrees of freedom (unit scale): heavy tails for funding."""
    return rng.gauss(0.0, 1.0) / math.sqrt(rng.gammavariate(1.5, 1.0 / 1.5))


def _weighted(rng: random.Random, shares: dict[Any, float]) -> Any:
    keys = list(shares)
    return rng.choices(keys, weights=[float(shares[k]) for k in keys])[0]


def tail_names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    """``n`` distinct synthetic tickers (3 to 6 letters, sometimes a digit), none in ``taken``, none
    ending like a quote (``USD``...) nor starting with a digit (a bundle prefix)."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        name = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.choice((2, 2, 3))))
        name = name[: rng.choice((3, 4, 4, 5, 6))]
        if rng.random() < 0.08:
            name += str(rng.randrange(2, 10))
        if name in seen or name.endswith(_QUOTE_ENDINGS):
            continue
        seen.add(name)
        out.append(name)
    return out


def generate_catalog(params: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scenario dict for ``params`` (the ``params`` section of a scenario naming this
    generator; keys below) on top of ``base`` (a loaded scenario whose sections other than
    ``symbols``/``venues`` are kept and whose markets are the head of the ranking).

    ``seed``; ``universe`` (symbols in all); ``head`` (ranks listed everywhere); ``volume``:
    ``top_usd``, ``zipf``; ``books``: ``head_spread_bps``, ``tail_spread_bps``, ``head_levels``,
    ``tail_levels``, ``head_top_usd``, ``tail_top_usd`` (USD at the top level), ``tail_refresh_ticks``
    (the tail's makers requote every n market steps) ([low, high] pairs);
    ``funding``: ``base_per_hour``, ``head_sigma_per_hour``, ``tail_sigma_per_hour``,
    ``venue_share``, ``cap_per_hour``; ``venues``: name -> ``listed``, ``volume_scale``,
    ``maker_fee``, ``taker_fee``, ``head_interval_hours``, ``intervals``, ``min_notional``,
    ``min_size_usd`` (a minimum size worth about that many USD, else one lot), ``bundle_below_usd``,
    ``head_leverage``, ``tail_leverage``, ``market_ids`` (true: Lighter-style ids), ``rate_decimals``
    (the funding rate per interval is rounded to the exchange's quote: default 8).
    Raises ValueError when a venue asks for more symbols than the universe has."""
    base = base or {}
    rng = random.Random(f"catalog:{params.get('seed', 1)}")
    universe = int(params["universe"])
    head = int(params.get("head", 40))
    vol_cfg, book_cfg, fund_cfg = params.get("volume", {}), params.get("books", {}), params.get("funding", {})
    base_symbols: dict[str, Any] = dict(base.get("symbols") or {})
    base_venues: dict[str, Any] = base.get("venues") or {}

    names = list(base_symbols) + [t for t in HEAD_TICKERS if t not in base_symbols]
    names = names[:max(head, len(base_symbols))]
    names += tail_names(rng, universe - len(names), set(names))

    # -- the shared index: price and volatility per symbol -----------------------------------------
    symbols: dict[str, Any] = {}
    for rank, name in enumerate(names):
        if name in base_symbols:
            symbols[name] = base_symbols[name]
            continue
        frac = rank / universe
        price = BUNDLE_PRICES.get(name) or (_loguniform(rng, 0.05, 800.0) if rank < head
                                            else _loguniform(rng, 0.0004, 80.0))
        vol = min(0.6 + 1.0 * frac + rng.uniform(-0.15, 0.25), 2.0)
        symbols[name] = {"price": _sig(price, 4), "vol": round(vol, 2)}

    # -- per symbol: shared funding component and size ---------------------------------------------
    base_h = float(fund_cfg.get("base_per_hour", 0.0000125))
    head_sigma = float(fund_cfg.get("head_sigma_per_hour", 0.000003))
    tail_sigma = float(fund_cfg.get("tail_sigma_per_hour", 0.00015))
    venue_share = float(fund_cfg.get("venue_share", 0.6))
    cap = float(fund_cfg.get("cap_per_hour", 0.00375))
    sigma = {n: head_sigma + (tail_sigma - head_sigma) * (r / universe) ** 1.5 for r, n in enumerate(names)}
    shared = {n: base_h + sigma[n] * (1 - venue_share) * _student_t3(rng) for n in names}
    top_usd, zipf = float(vol_cfg.get("top_usd", 2.0e9)), float(vol_cfg.get("zipf", 1.5))
    volume = {n: top_usd * (r + 1) ** -zipf * math.exp(rng.gauss(0.0, 0.5)) for r, n in enumerate(names)}

    venues: dict[str, Any] = {}
    for vname, vcfg in params["venues"].items():
        listed = int(vcfg["listed"])
        if listed > universe:
            raise ValueError(f"catalog: venues.{vname}.listed ({listed}) exceeds universe ({universe})")
        vbase = (base_venues.get(vname) or {}).get("markets") or {}
        spread = float(vcfg.get("listing_noise", 60))
        score = {n: (-1.0 if (r < head and (n in vbase or n not in base_symbols)) else r + rng.uniform(0, spread))
                 for r, n in enumerate(names)}
        chosen = sorted((n for n in names if n not in base_symbols or n in vbase), key=lambda n: score[n])[:listed]
        chosen.sort(key=names.index)
        markets: dict[str, Any] = {}
        used_ids = {int(m["market_id"]) for m in vbase.values() if "market_id" in m}
        next_id = iter(i for i in range(10_000) if i not in used_ids)
        for name in chosen:
            if name in vbase:
                markets[name] = dict(vbase[name])
                continue
            rank = names.index(name)
            markets[name] = _market(rng, name, rank < head, float(symbols[name]["price"]), vcfg, book_cfg,
                                    volume[name], shared[name], sigma[name] * venue_share, cap)
            if vcfg.get("market_ids"):
                markets[name]["market_id"] = next(next_id)
        venues[vname] = {k: vcfg[k] for k in ("maker_fee", "taker_fee") if k in vcfg} | {"markets": markets}
        for k in ("maker_fee", "taker_fee"):
            if k not in venues[vname] and k in (base_venues.get(vname) or {}):
                venues[vname][k] = base_venues[vname][k]

    out = {k: v for k, v in base.items() if k not in ("symbols", "venues", "generator", "params", "base")}
    out["symbols"] = symbols
    out["venues"] = venues
    return out


def _pair(cfg: dict[str, Any], key: str, default: tuple[float, float]) -> tuple[float, float]:
    lo, hi = cfg.get(key, default)
    return float(lo), float(hi)


def _market(rng: random.Random, name: str, is_head: bool, price: float, vcfg: dict[str, Any],
            book_cfg: dict[str, Any], volume: float, shared_h: float, own_sigma_h: float,
            cap_h: float) -> dict[str, Any]:
    """One generated market on one venue (the scenario's market keys; see ``default.yml``)."""
    mult = 1000 if price < float(vcfg.get("bundle_below_usd", 0)) else 1
    px = price * mult  # exchange units
    exp = math.floor(math.log10(px))
    tick_exp = exp - (rng.choice((4, 5)) if is_head else rng.choice((3, 4)))
    tick = 10.0 ** tick_exp
    lot_exp = min(round(math.log10(rng.choice((1.0, 5.0, 10.0)) / px)), 0)
    lot = 10.0 ** lot_exp
    if is_head:
        spread_bps = _loguniform(rng, *_pair(book_cfg, "head_spread_bps", (0.1, 1.0)))
        levels = int(book_cfg.get("head_levels", 50))
        top_usd = _loguniform(rng, *_pair(book_cfg, "head_top_usd", (1e5, 1e6)))
        gap = 1
    else:
        spread_bps = _loguniform(rng, *_pair(book_cfg, "tail_spread_bps", (4.0, 80.0)))
        levels = rng.randint(*(int(x) for x in _pair(book_cfg, "tail_levels", (8, 20))))
        top_usd = _loguniform(rng, *_pair(book_cfg, "tail_top_usd", (300.0, 5000.0)))
    spread_ticks = max(1, round(spread_bps * 1e-4 * px / tick))
    if not is_head:
        gap = max(1, spread_ticks // rng.choice((2, 3, 4)))
    level_size = max(round(top_usd / px / lot) * lot, lot)
    hours = int(vcfg.get("head_interval_hours", 8)) if is_head else int(_weighted(rng, vcfg.get("intervals", {8: 1})))
    rate_h = max(-cap_h, min(cap_h, shared_h + own_sigma_h * _student_t3(rng)))
    vol = volume * float(vcfg.get("volume_scale", 1.0)) * math.exp(rng.gauss(0.0, 0.4))
    lev_lo, lev_hi = (int(x) for x in (vcfg.get("head_leverage", (20, 50)) if is_head else vcfg.get("tail_leverage", (5, 20))))
    refresh = 1 if is_head else rng.randint(*(int(x) for x in _pair(book_cfg, "tail_refresh_ticks", (5, 20))))
    m: dict[str, Any] = {
        "tick": _pow10(tick_exp), "lot": _pow10(lot_exp),
        "min_notional": str(vcfg.get("min_notional", 0)),
        "max_leverage": rng.choice([x for x in (5, 10, 20, 25, 50, 75, 100, 125) if lev_lo <= x <= lev_hi] or [lev_lo]),
        "funding_rate": round(rate_h * hours, int(vcfg.get("rate_decimals", 8))), "interval_hours": hours,
        "spread_ticks": spread_ticks, "levels": levels, "level_gap_ticks": gap, "refresh_ticks": refresh,
        "level_size": float(f"{level_size:.10g}"),
        "volume_24h_usd": float(f"{vol:.3g}"), "open_interest_usd": float(f"{vol * rng.uniform(0.15, 0.8):.3g}"),
    }
    min_size_usd = vcfg.get("min_size_usd")
    if min_size_usd:
        m["min_size"] = format(Decimal(_pow10(lot_exp)) * max(1, math.ceil(float(min_size_usd) / px / lot)), "f")
    if mult != 1:
        m["multiplier"] = mult
    return m
