from decimal import Decimal

from perpdex.funding.collector import FundingSnapshot
from perpdex.funding.opportunities import find_opportunities, spread_apr
from perpdex.models import FundingRateSample, MarketStats

D = Decimal


def snap() -> FundingSnapshot:
    s = FundingSnapshot()
    s.rates = {
        "a": {"X": FundingRateSample.from_interval_rate("a", "X", D("-0.0004"), D(4)),
              "Y": FundingRateSample.from_interval_rate("a", "Y", D("0.0001"), D(8)),
              "Z": FundingRateSample.from_interval_rate("a", "Z", D("0.0001"), D(8))},
        "b": {"X": FundingRateSample.from_interval_rate("b", "X", D("0.00012"), D(1)),
              "Y": FundingRateSample.from_interval_rate("b", "Y", D("0.0000125"), D(1)),
              "W": FundingRateSample.from_interval_rate("b", "W", D("0.01"), D(1))},
    }
    s.stats = {
        "a": {"X": MarketStats("a", "X", D(9e6), D(4e6)), "Y": MarketStats("a", "Y", D(1e9), D(1e8))},
        "b": {"X": MarketStats("b", "X", D(7e6), D(3e6)), "Y": MarketStats("b", "Y", D(2e9), D(3e8))},
    }
    return s


def test_long_the_lower_rate_short_the_higher_ranked_by_net_apr():
    opps = find_opportunities(snap(), {"a": D("0.00035"), "b": D(0)}, hold_hours=D(168), min_net_apr=D(-1))
    assert [o.symbol for o in opps] == ["X", "Y"]  # W and Z are on one exchange only
    x = opps[0]
    assert (x.long_exchange, x.short_exchange) == ("a", "b")
    assert x.long_rate_8h == D("-0.0008") and x.short_rate_8h == D("0.00096")
    assert x.gross_apr == spread_apr(D("-0.0008"), D("0.00096")) == D("0.00176") / 8 * 8760
    assert x.fee_cost == D("0.0007")
    assert x.net_apr == x.gross_apr - D("0.0007") * 8760 / 168


def test_filters_volume_oi_symbols_and_threshold():
    s = snap()
    fees = {"a": D("0.00035"), "b": D(0)}
    assert [o.symbol for o in find_opportunities(s, fees, min_volume_24h_usd=D(1e8), min_net_apr=D(-1))] == ["Y"]
    assert [o.symbol for o in find_opportunities(s, fees, min_open_interest_usd=D(5e6), min_net_apr=D(-1))] == ["Y"]
    assert [o.symbol for o in find_opportunities(s, fees, symbols=["y"], min_net_apr=D(-1))] == ["Y"]
    assert [o.symbol for o in find_opportunities(s, fees, min_net_apr=D("0.5"))] == ["X"]
