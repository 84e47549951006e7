from datetime import UTC, datetime
from decimal import Decimal

import pytest

from perpdex.models import ContractAttributes, FundingRateSample, Side, round_to_step


def test_funding_normalization_to_8h_and_apr():
    # Aster 4h interval: 0.0002 per 4h = 0.0004 per 8h; APR = 0.0002 * 6 * 365
    s = FundingRateSample.from_interval_rate("x", "ZORA", Decimal("0.0002"), Decimal(4))
    assert s.normalized_rate == Decimal("0.0004")
    assert s.apr == Decimal("0.0002") * 6 * 365
    # Lighter hourly: 1.2e-5 per hour -> 9.6e-5 per 8h, APR 10.512 %
    h = FundingRateSample.from_interval_rate("y", "ETH", Decimal("0.000012"), Decimal(1))
    assert h.normalized_rate == Decimal("0.000096")
    assert h.apr == Decimal("0.105120")
    with pytest.raises(ValueError):
        FundingRateSample.from_interval_rate("x", "B", Decimal(1), Decimal(0))


def test_rounding_is_never_more_aggressive():
    c = ContractAttributes("x", "BTC", "BTCUSDT", Decimal("0.1"), Decimal("0.001"))
    assert c.round_price(Decimal("100.07"), Side.BUY) == Decimal("100.0")
    assert c.round_price(Decimal("100.03"), Side.SELL) == Decimal("100.1")
    assert c.round_size(Decimal("0.0129")) == Decimal("0.012")
    assert round_to_step(Decimal("7"), Decimal("0")) == Decimal("7")


def test_side_helpers():
    assert Side.BUY.opposite is Side.SELL and Side.SELL.sign == -1
    assert datetime.now(UTC).tzinfo is not None
