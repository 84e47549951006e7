from decimal import Decimal

from perpdex.execution.sizing import common_step, round_down, slippage_bps, walk_book
from perpdex.models import Side

D = Decimal


def test_common_step_is_exact_lcm_of_lot_sizes():
    assert common_step(D("0.001"), D("0.00001")) == D("0.001")
    assert common_step(D("0.1"), D("1")) == D("1")
    assert common_step(D("0.3"), D("0.2")) == D("0.6")
    assert round_down(D("12.3456"), D("0.01")) == D("12.34")


def test_walk_book_and_slippage():
    depth = {"bids": [{"price": D(99), "size": D(1)}, {"price": D(98), "size": D(2)}],
             "asks": [{"price": D(101), "size": D(1)}, {"price": D(103), "size": D(1)}]}
    filled, avg = walk_book(depth, Side.BUY, D(2))
    assert filled == 2 and avg == D(102)
    assert slippage_bps(depth, Side.BUY, avg) == D(1) / D(101) * 10000
    filled, avg = walk_book(depth, Side.SELL, D(5))
    assert filled == 3 and avg == (D(99) + D(196)) / 3
    assert walk_book({"bids": [], "asks": []}, Side.BUY, D(1)) == (D(0), None)
