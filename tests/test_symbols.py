from decimal import Decimal

import pytest

from perpdex.errors import MarketNotFound, UnknownSymbol
from perpdex.exchanges.aster.symbols import AsterSymbols
from perpdex.exchanges.backpack.symbols import BackpackSymbols
from perpdex.exchanges.lighter.symbols import LighterSymbols
from perpdex.exchanges.paradex.symbols import ParadexSymbols
from perpdex.symbols import MarketRef, SymbolRegistry, canonical_price, split_prefixed


@pytest.mark.parametrize("base, expected", [
    ("1000PEPE", ("PEPE", 1000)), ("10000SATS", ("SATS", 10000)), ("1000000MOG", ("MOG", 1_000_000)),
    ("1MBABYDOGE", ("BABYDOGE", 1_000_000)), ("kBONK", ("BONK", 1000)), ("kPEPE", ("PEPE", 1000)),
    ("BTC", ("BTC", 1)), ("2Z", ("2Z", 1)), ("0G", ("0G", 1)), ("1INCH", ("1INCH", 1)),
    ("KAITO", ("KAITO", 1)), ("100X", ("100X", 1)),
])
def test_split_prefixed(base, expected):
    assert split_prefixed(base) == expected


def test_registry_compares_the_same_asset_in_the_same_unit():
    reg = SymbolRegistry([
        MarketRef("a", "PEPE", "1000PEPEUSDT", None, Decimal(1000)),
        MarketRef("b", "PEPE", "PEPE_USDC_PERP", None, Decimal(1)),
        MarketRef("c", "PEPE", "kPEPE-USD-PERP", None, Decimal(1000)),
        MarketRef("b", "BTC", "BTC_USDC_PERP"),
    ])
    a, b = reg.get("a", "PEPE"), reg.get("b", "PEPE")
    # 0.0105 per 1000PEPE and 0.0000105 per PEPE are the same price per token
    assert a.to_canonical_price(Decimal("0.0105")) == b.to_canonical_price(Decimal("0.0000105"))
    # 3 units of 1000PEPE are 3000 PEPE
    assert a.to_canonical_size(Decimal(3)) == b.to_canonical_size(Decimal(3000))
    assert a.to_exchange_size(Decimal(3000)) == 3 and a.to_exchange_price(Decimal("0.0000105")) == Decimal("0.0105")
    assert reg.common(["a", "b", "c"]) == {"PEPE"}
    assert reg.exchanges("BTC") == ["b"] and reg.symbols() == ["BTC", "PEPE"]


# -- the symbol map every exchange shares ----------------------------------------------------------
def _maps():
    # (map, a listed bundled market and its id, the rule's name of an unlisted BTC, a name that is not a perp)
    return [
        (AsterSymbols(), "1000PEPEUSDT", None, "BTCUSDT", None),
        (BackpackSymbols(), "kPEPE_USDC_PERP", None, "BTC_USDC_PERP", "SOL_USDC"),
        (LighterSymbols(), "1000PEPE", 9, "BTC", "ETH/USDC"),
        (ParadexSymbols(), "kPEPE-USD-PERP", None, "BTC-USD-PERP", "BTC-USD-96000-C"),
    ]


@pytest.mark.parametrize("m, listed, market_id, btc, not_perp", _maps(), ids=lambda v: getattr(v, "exchange", ""))
def test_symbol_map_round_trip_and_one_answer_for_unknown_symbols(m, listed, market_id, btc, not_perp):
    assert m.add(listed, market_id) == "PEPE"
    assert "PEPE" in m and "BTC" not in m
    # round trip through the catalog, bundle kept
    assert m.name("PEPE") == listed and m.symbol(listed) == "PEPE" and m.listed(listed) == "PEPE"
    assert m.multiplier("PEPE") == 1000 and m.ccxt_symbol("PEPE").startswith(("1000PEPE/", "KPEPE/"))
    # an unlisted symbol: named by the rule, both ways, multiplier 1, never listed
    assert m.name("BTC") == btc and m.symbol(btc) == "BTC" and m.listed(btc) is None and m.multiplier("BTC") == 1
    # market ids come from the catalog only: the same typed error everywhere (a KeyError too)
    with pytest.raises(UnknownSymbol) as info:
        m.market_id("BTC")
    assert isinstance(info.value, MarketNotFound) and isinstance(info.value, KeyError)
    assert info.value.exchange == m.exchange and str(info.value) == f"[{m.exchange}] BTC is not a listed market"
    with pytest.raises(UnknownSymbol):
        m.symbol_of_id(12345)
    if market_id is not None:
        assert m.market_id("PEPE") == market_id and m.symbol_of_id(market_id) == "PEPE"
    else:
        with pytest.raises(UnknownSymbol):
            m.market_id("PEPE")
    # a name the rule cannot read: not registered, UnknownSymbol from symbol(), None from find()
    if not_perp is not None:
        assert m.add(not_perp) is None and m.find(not_perp) is None and not_perp not in m.by_name
        with pytest.raises(UnknownSymbol):
            m.symbol(not_perp)


def test_canonical_price_is_the_one_conversion():
    ref = MarketRef("a", "PEPE", "1000PEPEUSDT", None, Decimal(1000))
    assert canonical_price(Decimal("0.0105"), Decimal(1000)) == ref.to_canonical_price(Decimal("0.0105")) == Decimal("0.0000105")
    assert canonical_price(None, Decimal(1000)) is None
