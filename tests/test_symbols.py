from decimal import Decimal

import pytest

from perpdex.symbols import MarketRef, SymbolRegistry, split_prefixed


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
