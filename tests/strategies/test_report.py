"""The run report adds up when positions are still open at the end of a run (issue: the summary
printed funding and fees of every position but the net PnL of closed ones only). Realized (closed
and failed) and open (unrealized at the mark) parts each satisfy net = funding - fees + price PnL
exactly, the totals are their exact sums, and the printed summary adds up as printed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from rich.console import Console

from perpdex.cli import render
from perpdex.funding.collector import FundingSnapshot
from perpdex.funding.history import FundingHistory
from perpdex.models import FundingRateSample
from perpdex.strategies.report import build_report, snapshot_marks

T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def position(store, symbol, long_ex, short_ex, status, quantity, fills, funding):
    pos = await store.create_position(symbol=symbol, long_exchange=long_ex, short_exchange=short_ex, status=status,
                                      quantity=D(quantity), leverage=D(3), opened_at=T0,
                                      closed_at=T0 + timedelta(minutes=8) if status in ("closed", "failed") else None,
                                      close_reason="max age" if status == "closed" else None)
    for phase, ex, side, qty, price, fee in fills:
        await store.add_fill(pos.id, phase, exchange=ex, symbol=symbol, side=side, quantity=D(qty), price=D(price),
                             fee=D(fee), liquidity="taker", order_id=None, ts=T0)
    for i, (ex, amount) in enumerate(funding):
        await store.add_funding(pos.id, exchange=ex, symbol=symbol, amount=D(amount), rate=None,
                                ts=T0 + timedelta(seconds=i))
    return pos.id


async def run_of_four(store, holding: bool = True):
    """Two flat positions (closed, failed), two holding (open pair, naked leg) unless not ``holding``."""
    # closed BTC pair: long aster 0.01, short lighter 0.01
    await position(store, "BTC", "aster", "lighter", "closed", "0.01", [
        ("open", "aster", "buy", "0.01", "100000.1", "0.350001"), ("open", "lighter", "sell", "0.01", "100010.3", "0"),
        ("close", "aster", "sell", "0.01", "100500.7", "0.351752"), ("close", "lighter", "buy", "0.01", "100505.2", "0"),
    ], [("aster", "1.2345"), ("lighter", "0.98765"), ("aster", "-0.01")])
    # failed SOL open: one leg filled, rolled back
    await position(store, "SOL", "aster", "backpack", "failed", "0", [
        ("open", "aster", "buy", "3", "190.11", "0.199616"), ("rollback", "aster", "sell", "3", "189.97", "0.199469"),
    ], [])
    if not holding:
        return
    # open ETH pair: long backpack 0.5 (two fills), short paradex 0.5
    await position(store, "ETH", "backpack", "paradex", "open", "0.5", [
        ("open", "backpack", "buy", "0.2", "3900.01", "0.390001"), ("open", "backpack", "buy", "0.3", "3900.05", "0.585008"),
        ("open", "paradex", "sell", "0.5", "3901.2", "0.39012"),
    ], [("backpack", "-0.0312"), ("paradex", "0.4411"), ("paradex", "0.4409")])
    # naked 0G: the long on aster is held, the short on lighter never filled
    await position(store, "0G", "aster", "lighter", "naked", "100", [
        ("open", "aster", "buy", "100", "2.9412", "0.102942"),
    ], [("aster", "0.0123")])


# the exact figures, by hand
CLOSED_FUNDING = D("1.2345") + D("0.98765") - D("0.01")
CLOSED_FEES = D("0.350001") + D("0.351752") + D("0.199616") + D("0.199469")
CLOSED_PRICE = (D("0.01") * (D("100500.7") - D("100000.1")) + D("0.01") * (D("100010.3") - D("100505.2"))
                + 3 * (D("189.97") - D("190.11")))
MARK = {"backpack": D("3912.5"), "paradex": D("3913.1"), "aster": D("2.9"), "lighter": D("2.95")}
ETH_PRICE = (D("0.2") * (MARK["backpack"] - D("3900.01")) + D("0.3") * (MARK["backpack"] - D("3900.05"))
             + D("0.5") * (D("3901.2") - MARK["paradex"]))
OG_PRICE = 100 * (MARK["aster"] - D("2.9412"))
OPEN_FUNDING = D("-0.0312") + D("0.4411") + D("0.4409") + D("0.0123")
OPEN_FEES = D("0.390001") + D("0.585008") + D("0.39012") + D("0.102942")


def snapshot(marks: dict[str, D], symbols: dict[str, str]) -> FundingSnapshot:
    snap = FundingSnapshot(ts=(T0 + timedelta(minutes=8)).timestamp())
    for ex, mark in marks.items():
        sym = symbols[ex]
        snap.rates.setdefault(ex, {})[sym] = FundingRateSample.from_interval_rate(ex, sym, D("0.0001"), D(8),
                                                                                  mark_price=mark)
    return snap


def printed(rep) -> list[str]:
    console = Console(record=True, width=240, color_system=None)
    render.report(console, rep)
    return [line for line in console.export_text().splitlines() if line.startswith(("summary:", "  realized", "  open", "  total"))]


LINE = re.compile(r"funding ([+-]?[\d,]+\.\d{4}) - fees (-?[\d,]+\.\d{4}) \+ price PnL ([+-][\d,]+\.\d{4}|n/a) "
                  r"= net PnL ([+-][\d,]+\.\d{4}|n/a)")


def figures(line: str) -> list[D | None]:
    m = LINE.search(line)
    assert m, line
    return [None if g == "n/a" else D(g.replace(",", "")) for g in m.groups()]


def assert_identities(tot):
    for part in (tot["realized"], tot["open_positions"]):
        assert D(part["pnl"]) == D(part["funding"]) - D(part["fees"]) + D(part["price_pnl"])
    for key in ("funding", "fees", "price_pnl", "pnl"):
        assert D(tot[key]) == D(tot["realized"][key]) + D(tot["open_positions"][key]), key
    assert D(tot["pnl"]) == D(tot["funding"]) - D(tot["fees"]) + D(tot["price_pnl"])


async def test_realized_and_open_parts_add_up_to_the_total(store):
    await run_of_four(store)
    marks = snapshot_marks(snapshot({"backpack": MARK["backpack"], "paradex": MARK["paradex"], "aster": MARK["aster"]},
                                    {"backpack": "ETH", "paradex": "ETH", "aster": "0G"}))
    rep = await build_report(store, None, [], duration_s=480, marks=marks)
    tot = rep["totals"]
    assert (tot["positions"], tot["closed"], tot["open"]) == (4, 2, 2)
    r, o = tot["realized"], tot["open_positions"]
    assert (D(r["funding"]), D(r["fees"]), D(r["price_pnl"])) == (CLOSED_FUNDING, CLOSED_FEES, CLOSED_PRICE)
    assert D(r["pnl"]) == CLOSED_FUNDING - CLOSED_FEES + CLOSED_PRICE == D(tot["realized_pnl"])
    assert (D(o["funding"]), D(o["fees"]), D(o["price_pnl"])) == (OPEN_FUNDING, OPEN_FEES, ETH_PRICE + OG_PRICE)
    assert o["mark_source"] == "given"
    assert_identities(tot)
    # the old keys keep their meaning (funding and fees of every position) and now add up with pnl
    assert D(tot["funding"]) == CLOSED_FUNDING + OPEN_FUNDING and D(tot["fees"]) == CLOSED_FEES + OPEN_FEES
    by_symbol = {p["symbol"]: p for p in rep["positions"]}
    eth, og = by_symbol["ETH"], by_symbol["0G"]
    assert (eth["price_pnl"], eth["pnl"]) == (None, None)  # not realized
    assert D(eth["unrealized_price_pnl"]) == ETH_PRICE and eth["held"] == {"backpack": "0.5", "paradex": "-0.5"}
    assert D(eth["unrealized_pnl"]) == ETH_PRICE + D("-0.0312") + D("0.4411") + D("0.4409") - D("0.390001") - D(
        "0.585008") - D("0.39012")
    assert og["held"] == {"aster": "100"} and og["mark_prices"] == {"aster": "2.9"}
    assert D(by_symbol["BTC"]["pnl"]) == D("0.01") * D("500.6") + D("0.01") * D("-494.9") + D("2.21215") - D("0.701753")

    head, realized, opened, total = printed(rep)
    assert "4 position(s), 2 closed, 2 open in 480s" in head
    assert "realized (2 closed)" in realized and "open (2, unrealized at the run's last marks)" in opened
    rows = [figures(line) for line in (realized, opened, total)]
    for f, fees, price, net in rows:  # every printed line adds up as printed
        assert net == f - fees + price
    for col in range(4):  # and realized + open = total, as printed
        assert rows[0][col] + rows[1][col] == rows[2][col]
    exact = [[r["funding"], r["fees"], r["price_pnl"], r["pnl"]], [o["funding"], o["fees"], o["price_pnl"], o["pnl"]],
             [tot["funding"], tot["fees"], tot["price_pnl"], tot["pnl"]]]
    for shown, true in zip(rows, exact):  # each printed figure is the exact one to the cent
        for a, b in zip(shown, true):
            assert abs(a - D(b)) < D("0.005"), (shown, true)


async def test_open_positions_fall_back_to_stored_marks_then_na(store):
    await run_of_four(store)
    # no marks given and none stored: the open part is n/a, the realized part still adds up
    rep = await build_report(store, None, [], duration_s=480)
    tot = rep["totals"]
    assert tot["open_positions"]["price_pnl"] is None and tot["open_positions"]["mark_source"] is None
    assert (tot["price_pnl"], tot["pnl"]) == (None, None)
    assert D(tot["open_positions"]["funding"]) == OPEN_FUNDING  # known even without a mark
    assert D(tot["realized"]["pnl"]) == CLOSED_FUNDING - CLOSED_FEES + CLOSED_PRICE
    head, realized, opened, total = printed(rep)
    assert "no mark price: unrealized n/a" in opened
    assert figures(opened)[2:] == [None, None] and figures(total)[2:] == [None, None]
    f, fees, price, net = figures(realized)
    assert net == f - fees + price
    # the funding history's newest marks (a run with record_funding_history stores every round)
    history = FundingHistory(store.sessions)
    await history.store_round(snapshot({"backpack": D(1), "paradex": D(1), "aster": D(1)},
                                       {"backpack": "ETH", "paradex": "ETH", "aster": "0G"}), T0)
    await history.store_round(snapshot({"backpack": MARK["backpack"], "paradex": MARK["paradex"], "aster": MARK["aster"]},
                                       {"backpack": "ETH", "paradex": "ETH", "aster": "0G"}), T0 + timedelta(minutes=8))
    rep = await build_report(store, None, [], duration_s=480)
    tot = rep["totals"]
    assert D(tot["open_positions"]["price_pnl"]) == ETH_PRICE + OG_PRICE
    assert tot["open_positions"]["mark_source"] == "stored"
    assert tot["open_positions"]["mark_time"] == (T0 + timedelta(minutes=8)).isoformat()
    assert_identities(tot)
    assert "unrealized at the marks stored at 00:08:00 UTC" in printed(rep)[2]


async def test_all_closed_is_one_line_that_adds_up(store):
    await run_of_four(store, holding=False)
    rep = await build_report(store, None, [], duration_s=60)
    tot = rep["totals"]
    assert (tot["open"], tot["open_positions"]["positions"], D(tot["open_positions"]["pnl"])) == (0, 0, 0)
    assert_identities(tot)
    [line] = printed(rep)
    assert "2 position(s), 2 closed in 60s" in line and " open" not in line
    f, fees, price, net = figures(line)
    assert net == f - fees + price
    assert abs(net - (CLOSED_FUNDING - CLOSED_FEES + CLOSED_PRICE)) < D("0.005")
