"""Pre-flight against emulated exchanges over loopback: leverage normalized to the lower maximum,
set and verified per exchange; one targeted test per refusal, checking its reason and message;
legs ordered thinner book first."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from perpdex.app import exchange_settings, runtime
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.execution.leverage import choose_leverage
from perpdex.execution.liquidation import estimate_liquidation_price, liquidation_distance
from perpdex.execution.preflight import run_preflight
from perpdex.execution.price_provider import PriceProvider
from perpdex.execution.refusal import PreflightRefused, Refusal
from perpdex.models import Side

D = Decimal
LONG, SHORT = "aster", "lighter"


def eth_market(max_leverage: int, level_size: float, spread_ticks: int, **extra: Any) -> dict[str, Any]:
    m = {"tick": "0.01", "lot": "0.0001", "min_size": "0.001", "min_notional": "5", "max_leverage": max_leverage,
         "funding_rate": 0.0001, "interval_hours": 8, "spread_ticks": spread_ticks, "level_size": level_size,
         "levels": 60, "volume_24h_usd": 1e8, "open_interest_usd": 1e8}
    m.update(extra)
    return m


def scenario(tmp_path, *, long_max=20, short_max=8, long_level=50.0, short_level=50.0, long_spread=1, short_spread=12,
             long_name=LONG, short_name=SHORT) -> str:
    """One symbol (ETH) on the long leg's exchange (Aster by default) and the short leg's (Lighter)
    with the given maximum leverage, top-level size (ETH) and spread (ticks of 0.01 USD)."""
    data = {
        "seed": 7, "starting_balance": 100000, "tick_seconds": 0.1, "symbols": {"ETH": 3900},
        "venues": {
            long_name: {"taker_fee": 0.00035, "maker_fee": 0.0001,
                        "markets": {"ETH": eth_market(long_max, long_level, long_spread)}},
            short_name: {"taker_fee": 0.0, "maker_fee": 0.0,
                         "markets": {"ETH": eth_market(short_max, short_level, short_spread, market_id=0)}},
        },
    }
    path = tmp_path / "preflight.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@contextlib.asynccontextmanager
async def pair(tmp_path, *, starting_balance: float | None = None, **scn: Any) -> AsyncIterator[Any]:
    sim: dict[str, Any] = {"enabled": True, "scenario": scenario(tmp_path, **scn)}
    if starting_balance is not None:
        sim["starting_balance"] = starting_balance
    names = (scn.get("long_name", LONG), scn.get("short_name", SHORT))
    cfg = parse_config({"sim": sim, "exchanges": {n: {} for n in names},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"}})
    async with runtime(cfg) as rt:
        for n in names:
            await rt.clients[n].connect()
        yield rt


async def preflight(rt, **kw: Any):
    args: dict[str, Any] = dict(size_usd=D(1500), leverage=D(3), max_slippage_bps=D(30), ready_timeout_s=10,
                                prices=PriceProvider(), min_liquidation_distance=D("0.10"))
    long = kw.pop("long") if "long" in kw else rt.clients[LONG]
    short = kw.pop("short") if "short" in kw else rt.clients[SHORT]
    args.update(kw)
    return await run_preflight(long, short, "ETH", **args)


async def refused(rt, **kw: Any) -> PreflightRefused:
    with pytest.raises(PreflightRefused) as err:
        await preflight(rt, **kw)
    return err.value


# -- leverage ---------------------------------------------------------------------------------------
async def test_e09_leverage_normalized_to_the_lower_maximum_set_and_verified_on_both(tmp_path):
    async with pair(tmp_path, long_max=20, short_max=8) as rt:
        before = await rt.clients[LONG].fetch_leverage_info("ETH"), await rt.clients[SHORT].fetch_leverage_info("ETH")
        assert (before[0].max_leverage, before[1].max_leverage) == (20, 8)
        result = await preflight(rt, leverage=D(10), min_liquidation_distance=D("0.05"))
        assert result.leverage == 8
        assert result.leverage_choice.limited_by == SHORT
        assert (result.leverage_choice.max_long, result.leverage_choice.max_short) == (20, 8)
        for name in (LONG, SHORT):  # what each exchange now reports for the market
            info = await rt.clients[name].fetch_leverage_info("ETH")
            assert abs(info.current_leverage - 8) <= D("0.05"), name
        # below both maxima the wanted leverage wins
        assert (await preflight(rt, leverage=D(3))).leverage == 3
        assert (await rt.clients[SHORT].fetch_leverage_info("ETH")).current_leverage.quantize(D(1)) == 3


@pytest.mark.parametrize("long_name, short_name", [("backpack", "paradex"), ("paradex", "backpack")])
async def test_e09_normalization_on_account_wide_and_per_market_exchanges(tmp_path, long_name, short_name):
    # Backpack's leverage is one account-wide limit, Paradex's is per market: both end at the lower max
    async with pair(tmp_path, long_max=20, short_max=8, long_name=long_name, short_name=short_name) as rt:
        long, short = rt.clients[long_name], rt.clients[short_name]
        assert rt.clients["backpack"].leverage_model == "account" and rt.clients["paradex"].leverage_model == "per_market"
        result = await preflight(rt, long=long, short=short, leverage=D(10), min_liquidation_distance=D("0.05"))
        assert result.leverage == 8 and result.leverage_choice.limited_by == short_name
        for c in (long, short):
            assert (await c.fetch_leverage_info("ETH")).current_leverage == 8, c.name


def test_choose_leverage_rounds_down_and_names_the_limit():
    c = choose_leverage(D("12.5"), "a", D(20), "b", D("7.5"))
    assert (c.leverage, c.limited_by) == (7, "b")
    assert choose_leverage(D(3), "a", D(20), "b", D(8)).limited_by == "requested"
    with pytest.raises(PreflightRefused, match=r"leverage 0.5x \(limited by a\) is below 1x"):
        choose_leverage(D(3), "a", D("0.5"), "b", D(8))


async def test_refused_when_leverage_cannot_be_set(tmp_path):
    async with pair(tmp_path) as rt:
        rt.cluster.sim.venue(SHORT).faults.inject("leverage_reject", symbol="ETH")
        err = await refused(rt)
        assert err.reason is Refusal.LEVERAGE and (err.leg, err.exchange) == ("short", SHORT)
        assert str(err).startswith("short leg on lighter: setting leverage 3x on ETH failed:")


async def test_refused_when_the_exchange_reports_another_leverage_after_setting_it(tmp_path):
    async with pair(tmp_path) as rt:
        rt.cluster.sim.venue(LONG).faults.inject("leverage_ignore", symbol="ETH")
        err = await refused(rt)
        assert err.reason is Refusal.LEVERAGE and err.leg == "long"
        assert str(err) == "long leg on aster: leverage set to 3x on ETH but the exchange reports 5x"


# -- margin ------------------------------------------------------------------------------------------
async def test_refused_on_insufficient_margin_with_the_numbers(tmp_path):
    async with pair(tmp_path, starting_balance=300) as rt:
        err = await refused(rt, margin_buffer=D("0.10"))
        assert err.reason is Refusal.MARGIN and err.leg == "long"
        m = re.fullmatch(r"long leg on aster: available margin 300\.00 USD < (\d+\.\d\d) USD needed "
                         r"\((\d+\.\d\d) USD notional at 3x \+ 3\.5 bp fee, 10% buffer\)", str(err))
        assert m, str(err)
        need, notional = D(m.group(1)), D(m.group(2))
        assert need == pytest.approx((notional / 3 + notional * D("0.00035")) * D("1.10"), abs=D("0.01"))
        assert 1400 < notional <= 1500


# -- liquidity -------------------------------------------------------------------------------------
async def test_refused_on_slippage(tmp_path):
    async with pair(tmp_path, short_level=0.05) as rt:  # a thin Lighter book: the size walks levels
        err = await refused(rt, max_slippage_bps=D("0.01"))
        assert err.reason is Refusal.SLIPPAGE and err.leg == "short"
        assert re.fullmatch(r"short leg on lighter: VWAP [\d.]+ for 0\.38\d* is \d+\.\d bp from the touch, "
                            r"maximum 0\.01 bp", str(err)), str(err)


async def test_refused_on_a_wide_spread(tmp_path):
    async with pair(tmp_path, long_spread=1, short_spread=12) as rt:  # 0.03 bp vs 0.31 bp
        err = await refused(rt, max_spread_bps=D("0.1"))
        assert err.reason is Refusal.SPREAD and (err.leg, err.exchange) == ("short", SHORT)
        assert re.fullmatch(r"short leg on lighter: bid/ask spread 0\.3 bp above the maximum 0\.1 bp", str(err)), str(err)


async def test_refused_when_the_book_is_not_ready(tmp_path):
    async with pair(tmp_path) as rt:
        settings = exchange_settings(rt.cfg, SHORT, rt.cluster)
        settings.ws_url = "ws://127.0.0.1:9/stream"  # nothing listens there: no book ever
        dead = registry.client_class(SHORT)(settings)
        try:
            await dead.connect()
            err = await refused(rt, short=dead, ready_timeout_s=0.5)
        finally:
            await dead.close()
        assert err.reason is Refusal.BOOK_NOT_READY and err.leg == "short"
        assert str(err) == "short leg on lighter: order book of ETH not ready within 0.5s"


# -- liquidation distance ------------------------------------------------------------------------
async def test_refused_when_the_liquidation_price_is_too_close(tmp_path):
    async with pair(tmp_path, long_max=20, short_max=20) as rt:
        err = await refused(rt, leverage=D(10), min_liquidation_distance=D("0.10"))
        assert err.reason is Refusal.LIQUIDATION_DISTANCE and err.leg == "long"
        # isolated estimate at 10x with Aster's bracket maintenance ratio 0.5/20 = 2.5 %:
        # entry x 0.9 / 0.975, i.e. 7.7 % below the mark
        assert re.fullmatch(r"long leg on aster: liquidation 7\.\d% from mark \(estimate [\d.]+ vs mark [\d.]+ at 10x\), "
                            r"minimum 10%", str(err)), str(err)


async def test_liquidation_check_uses_the_exchanges_own_price_when_a_position_exists(tmp_path):
    async with pair(tmp_path, long_max=20, short_max=20) as rt:
        aster = rt.clients[LONG]
        await aster.set_leverage("ETH", D(3))
        await aster.place_market_order("ETH", Side.BUY, D("0.1"))
        snap = await aster.fetch_position("ETH")
        result = await preflight(rt, leverage=D(3))
        long = result.leg("long")
        assert long.liquidation_source == "exchange" and long.liquidation_price == snap.liquidation_price
        assert result.leg("short").liquidation_source == "estimate"
        mmf = result.short_attrs.maintenance_margin_fraction
        assert mmf == D("0.025")  # Lighter's maintenance_margin_fraction 250 / 10 000
        short = result.leg("short")
        assert short.liquidation_price == estimate_liquidation_price(short.vwap, Side.SELL, D(3), mmf)
        assert short.liquidation_distance == liquidation_distance(short.liquidation_price, short.liquidity.mid, Side.SELL)


# -- ordering ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("thin", [LONG, SHORT])
async def test_legs_are_returned_thinner_book_first(tmp_path, thin):
    levels = {"long_level": 0.4 if thin == LONG else 40.0, "short_level": 0.4 if thin == SHORT else 40.0}
    async with pair(tmp_path, short_spread=1, **levels) as rt:
        result = await preflight(rt)
        first, second = result.legs
        assert first.exchange == thin and first.liquidity.depth_usd < second.liquidity.depth_usd
        assert result.thinner_first == (("long", "short") if thin == LONG else ("short", "long"))
        # the pair itself is sized the same on both legs, with margin and liquidation numbers
        assert result.long_qty == result.short_qty == result.quantity
        for leg in result.legs:
            assert leg.margin_required < leg.margin_available
            assert leg.liquidation_distance > D("0.10")


def test_liquidation_estimate_formula():
    # long 3x, mmf 1 %: 100 x (2/3) / 0.99; short: 100 x (4/3) / 1.01
    assert estimate_liquidation_price(D(100), Side.BUY, D(3), D("0.01")) == pytest.approx(D(100) * 2 / 3 / D("0.99"))
    assert estimate_liquidation_price(D(100), Side.SELL, D(3), D("0.01")) == pytest.approx(D(100) * 4 / 3 / D("1.01"))
    assert estimate_liquidation_price(D(100), Side.BUY, D(1), D("0.01")) == 0
    assert liquidation_distance(D(0), D(100), Side.BUY) == 1
    assert liquidation_distance(D(90), D(100), Side.BUY) == D("0.1")
    assert liquidation_distance(D(110), D(100), Side.SELL) == D("0.1")
    assert liquidation_distance(D(101), D(100), Side.BUY) == 0  # already crossed


@pytest.mark.parametrize("long_name, short_name", [(LONG, SHORT), ("backpack", "paradex")])
async def test_every_exchange_publishes_max_leverage_and_maintenance_margin(tmp_path, long_name, short_name):
    # the emulator's maintenance margin is half the initial margin at max leverage, published the
    # way each exchange does (Aster bracket, Lighter fraction, Backpack mmfFunction, Paradex mmf_factor)
    async with pair(tmp_path, long_max=20, short_max=8, long_name=long_name, short_name=short_name) as rt:
        for name, top in ((long_name, 20), (short_name, 8)):
            c = await rt.clients[name].contract_attributes("ETH")
            assert c.max_leverage == top and c.maintenance_margin_fraction == D("0.5") / top, name
            assert (await rt.clients[name].fetch_leverage_info("ETH")).max_leverage == top, name


async def test_refused_on_unknown_market_min_size_and_thin_book(tmp_path):
    async with pair(tmp_path, short_level=0.001) as rt:  # ~0.3 ETH in Lighter's 50 best levels
        long, short = rt.clients[LONG], rt.clients[SHORT]
        with pytest.raises(PreflightRefused) as err:
            await run_preflight(long, short, "NOPE", size_usd=D(1500), leverage=D(3), max_slippage_bps=D(30),
                                ready_timeout_s=10, prices=PriceProvider())
        assert err.value.reason is Refusal.MARKET and str(err.value).startswith("NOPE: market lookup failed:")
        err2 = await refused(rt, size_usd=D(5))  # 0.0012 ETH: 4.68 USD
        assert err2.reason is Refusal.MIN_SIZE
        assert re.fullmatch(r"long leg on aster: notional 4\.\d\d USD below the minimum 5 USD", str(err2)), str(err2)
        err3 = await refused(rt)
        assert err3.reason is Refusal.THIN_BOOK and err3.leg == "short"
        assert re.fullmatch(r"short leg on lighter: the book offers 0\.\d+ of 0\.3846 in 50 levels", str(err3)), str(err3)
