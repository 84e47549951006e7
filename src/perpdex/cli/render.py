"""Rich tables for the CLI. Inputs are the JSON-ready dicts of ``strategies.report``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def pct(x: Any, digits: int = 2) -> str:
    """A fraction as a percentage text (``0.0123`` -> ``"1.23%"``); ``"-"`` for None."""
    return "-" if x is None else f"{Decimal(str(x)) * 100:.{digits}f}%"


def _num(x: Any, digits: int = 4) -> str:
    return "-" if x is None else f"{Decimal(str(x)):,.{digits}f}"


def usd(x: Any) -> str:
    """A signed USD amount with rich colour markup (green gain, red loss); ``"-"`` for None."""
    if x is None:
        return "-"
    d = Decimal(str(x))
    color = "green" if d > 0 else "red" if d < 0 else "white"
    return f"[{color}]{d:+,.4f}[/]"


def _compact(x: Any) -> str:
    if x is None:
        return "-"
    d = float(x)
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(d) >= div:
            return f"{d / div:.1f}{unit}"
    return f"{d:.0f}"


def funding_table(console: Console, rows: list[dict[str, Any]], title: str = "Funding rates",
                  highlight: set[str] | None = None) -> None:
    """One row per (exchange, symbol); symbols in ``highlight`` in bold."""
    t = Table(title=title, show_lines=False)
    for col in ("exchange", "symbol", "rate/interval", "interval", "rate 8h", "APR", "24h vol USD", "OI USD"):
        t.add_column(col, justify="right" if col not in ("exchange", "symbol") else "left")
    for r in rows:
        t.add_row(r["exchange"], r["symbol"], f"{Decimal(r['rate_per_interval']):+.6f}", f"{Decimal(r['interval_hours']):g}h",
                  f"{Decimal(r['rate_8h']):+.6f}", pct(r["apr"]), _compact(r.get("volume_24h_usd")),
                  _compact(r.get("open_interest_usd")),
                  style="bold yellow" if highlight and r["symbol"] in highlight else None)
    console.print(t)


def opportunities_table(console: Console, rows: list[dict[str, Any]], min_net_apr: Any = None) -> None:
    t = Table(title="Opportunities (net of entry+exit taker fees)")
    for col in ("symbol", "long", "short", "long 8h", "short 8h", "gross APR", "fee APR", "net APR", "min 24h vol",
                "min OI"):
        t.add_column(col, justify="left" if col in ("symbol", "long", "short") else "right")
    for r in rows:
        ok = min_net_apr is None or Decimal(r["net_apr"]) >= Decimal(str(min_net_apr))
        style = "bold green" if ok else "dim"
        t.add_row(r["symbol"], r["long_exchange"], r["short_exchange"], f"{Decimal(r['long_rate_8h']):+.6f}",
                  f"{Decimal(r['short_rate_8h']):+.6f}", pct(r["gross_apr"]), pct(r["fee_apr"]), pct(r["net_apr"]),
                  _compact(r.get("min_volume_24h_usd")), _compact(r.get("min_open_interest_usd")), style=style)
    if not rows:
        console.print("[yellow]no symbol is listed on two configured exchanges[/]")
        return
    console.print(t)


def book_table(exchange: str, symbol: str, depth: dict[str, list[dict[str, Decimal]]], source: str = "WebSocket") -> Table:
    """The book as a table: bids on the left, asks on the right, best first; the title names
    where it came from (``source``)."""
    t = Table(title=f"{exchange} {symbol} L2 book ({source})")
    t.add_column("bid size", justify="right")
    t.add_column("bid", justify="right", style="green")
    t.add_column("ask", justify="right", style="red")
    t.add_column("ask size", justify="right")
    n = max(len(depth["bids"]), len(depth["asks"]))
    for i in range(n):
        b = depth["bids"][i] if i < len(depth["bids"]) else None
        a = depth["asks"][i] if i < len(depth["asks"]) else None
        t.add_row(str(b["size"]) if b else "", str(b["price"]) if b else "", str(a["price"]) if a else "",
                  str(a["size"]) if a else "")
    return t


def endpoints_table(console: Console, endpoints: dict[str, dict[str, Any]]) -> None:
    t = Table(title="Emulated exchanges")
    t.add_column("exchange")
    t.add_column("REST")
    t.add_column("WebSocket")
    for name, ep in endpoints.items():
        t.add_row(name, ep["rest_url"], ep["ws_url"])
    console.print(t)


def errors(console: Console, errs: dict[str, str]) -> None:
    for ex, msg in (errs or {}).items():
        console.print(f"[yellow]warning:[/] {ex}: {escape(str(msg))}", soft_wrap=True)


def _mark_note(source: Any, at: Any) -> str:
    if source == "given":
        return "unrealized at the run's last marks"
    if source == "stored":
        return f"unrealized at the marks stored at {str(at)[11:19] or '?'} UTC"
    return "no mark price: unrealized n/a"


_CENT = Decimal("0.0001")


def _parts(part: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal | None]:
    """(funding, fees, price PnL) of a totals part, rounded to 0.0001 USD (price None: n/a)."""
    q = lambda x: Decimal(str(x)).quantize(_CENT)  # noqa: E731 - a one-line local helper reads best as a lambda
    return q(part.get("funding") or 0), q(part.get("fees") or 0), (
        None if part.get("price_pnl") is None else q(part["price_pnl"]))


def _line(funding: Decimal, fees: Decimal, price: Decimal | None) -> str:
    net = None if price is None else funding - fees + price
    return (f"funding {usd(funding)} - fees {_num(fees)} + price PnL {usd(price) if price is not None else 'n/a'} "
            f"= net PnL {usd(net) if net is not None else 'n/a'}")


def summary_lines(rep: dict[str, Any]) -> list[str]:
    """The report's summary: one line when every position is closed, else one line each for the
    realized (closed) part, the open part (unrealized at the mark, or n/a) and their total.
    Figures are rounded to 0.0001 USD once; each net PnL and each total is computed from the
    printed figures, so every line adds up as printed (within 0.0003 USD of the exact values)."""
    tot = rep.get("totals", {})
    head = (f"[bold]summary:[/] {tot.get('positions', 0)} position(s), {tot.get('closed', 0)} closed"
            f"{', ' + str(tot['open']) + ' open' if tot.get('open') else ''} in {rep.get('duration_s', 0):.0f}s")
    rf, rfe, rp = _parts(tot.get("realized", {}))
    if not tot.get("open"):
        return [f"{head}: {_line(rf, rfe, rp)}"]
    opened = tot.get("open_positions", {})
    of, ofe, op = _parts(opened)
    total_price = None if rp is None or op is None else rp + op
    return [head,
            f"  realized ({tot.get('closed', 0)} closed): {_line(rf, rfe, rp)}",
            f"  open ({tot['open']}, {_mark_note(opened.get('mark_source'), opened.get('mark_time'))}): "
            f"{_line(of, ofe, op)}",
            f"  total: {_line(rf + of, rfe + ofe, total_price)}"]


def report(console: Console, rep: dict[str, Any]) -> None:
    """The end-of-run report: rates seen, opportunity chosen, positions, PnL."""
    rows = rep.get("funding_rates", [])
    chosen = {o["symbol"] for o in rep.get("opportunities_chosen", [])}
    if rows:
        funding_table(console, sorted(rows, key=lambda r: (r["symbol"], r["exchange"])),
                      title="Funding rates seen at start" + (" (chosen symbol highlighted)" if chosen else ""),
                      highlight=chosen)
    if rep.get("opportunities_chosen"):
        opportunities_table(console, rep["opportunities_chosen"])
    positions = rep.get("positions", [])
    grids = rep.get("grids", [])
    if positions or not grids:
        _pair_tables(console, rep, positions)
    for g in grids:
        grid_tables(console, g)
    errors(console, rep.get("errors", {}))


def _pair_tables(console: Console, rep: dict[str, Any], positions: list[dict[str, Any]]) -> None:
    if positions:
        t = Table(title="Positions")
        for col in ("#", "symbol", "status", "long", "short", "size", "lev", "entry long/short", "exit long/short"):
            t.add_column(col)
        for p in positions:
            t.add_row(str(p["id"]), p["symbol"], p["status"], p["long_exchange"], p["short_exchange"], p["size"],
                      f"{Decimal(p['leverage']):g}x",
                      f"{p['entry_long_price'] or '-'} / {p['entry_short_price'] or '-'}",
                      f"{p['exit_long_price'] or '-'} / {p['exit_short_price'] or '-'}")
        console.print(t)
        t = Table(title="PnL (USD; open positions: unrealized, at the mark)")
        for col in ("#", "funding long", "funding short", "payments", "entry fees", "exit fees", "price PnL", "net PnL", "close reason"):
            t.add_column(col, justify="right" if col not in ("close reason",) else "left")
        for p in positions:
            still_open = p["pnl"] is None
            price, net = (p.get("unrealized_price_pnl"), p.get("unrealized_pnl")) if still_open else (p["price_pnl"], p["pnl"])
            t.add_row(str(p["id"]), usd(p["funding_long"]), usd(p["funding_short"]), str(p["funding_payments"]),
                      _num(p["entry_fees"]), _num(p["exit_fees"]), usd(price) if price is not None else "n/a",
                      usd(net) if net is not None else "n/a",
                      p["close_reason"] or p["status"] if not still_open else
                      f"(still open; {_mark_note(p.get('mark_source'), p.get('mark_time'))})")
        console.print(t)
    else:
        console.print("[yellow]no position was opened[/] (no opportunity cleared the thresholds)")
    for line in summary_lines(rep):
        console.print(line)


def grid_tables(console: Console, g: dict[str, Any]) -> None:
    """A grid's end-of-run tables: its orders, its round trips, then a summary that adds up
    (realized PnL = price PnL of closed round trips - fees + funding; open exposure apart)."""
    t = Table(title=f"Grid {g['name']}: {g['direction']} {g['symbol']} on {g['exchange']} - orders")
    for col in ("time", "role", "side", "size", "filled", "price", "status", "client id"):
        t.add_column(col, justify="right" if col in ("size", "filled", "price") else "left")
    for o in g["orders"]:
        t.add_row(o["time"][11:19], o["role"], o["side"], o["quantity"], o["filled"], o["price"] or "-", o["status"],
                  o["client_order_id"])
    console.print(t)
    if g["round_trips"]:
        r = Table(title=f"Grid {g['name']} - round trips")
        for col in ("entry", "exit", "size", "entry price", "exit price", "price PnL"):
            r.add_column(col, justify="right")
        for rt in g["round_trips"]:
            r.add_row(rt["entry_time"][11:19], rt["exit_time"][11:19], rt["quantity"], rt["entry_price"],
                      rt["exit_price"], usd(rt["price_pnl"]))
        console.print(r)
    o = g["open"]
    console.print(f"grid {g['name']}: {len(g['round_trips'])} round trip(s); realized: price PnL "
                  f"{usd(g['closed_price_pnl'])} - fees {_num(g['fees'])} + funding {usd(g['funding'])} = "
                  f"{usd(g['realized_pnl'])} USD; open {o['quantity']} (avg entry {o['avg_entry'] or '-'}, "
                  f"unrealized {usd(o['unrealized_price_pnl']) if o['unrealized_price_pnl'] is not None else 'n/a'}), "
                  f"{o['resting_take_profits']} take-profit(s) resting"
                  + (f"; {g['repairs']} invariant repair(s)" if g["repairs"] else ""), highlight=False)


def status_tables(console: Console, st: dict[str, Any]) -> None:
    """``perpdex status``: one row per exchange, one per book, then stored positions."""
    t = Table(title="Exchanges")
    for col in ("exchange", "markets", "feed", "frames", "bytes", "resyncs", "reconnects", "error"):
        t.add_column(col)
    b = Table(title="WebSocket books")
    for col in ("exchange", "symbol", "served", "age s", "bid", "ask"):
        b.add_column(col)
    for name, e in sorted(st["exchanges"].items()):
        f = e.get("feed") or {}
        t.add_row(name, str(e.get("markets", "-")), f.get("state", "-"), str(f.get("frames", "-")),
                  str(f.get("bytes", "-")), str(f.get("resyncs", "-")), str(f.get("reconnects", "-")),
                  escape(e.get("error", "")), style="red" if e.get("error") else None)
        for sym, info in (f.get("symbols") or {}).items():
            bid, ask = (e.get("bbo") or {}).get(sym, ["-", "-"])
            b.add_row(name, sym, "yes" if info["ready"] else "[red]no[/]",
                      "-" if info["age_s"] is None else f"{info['age_s']:.2f}", bid, ask)
    console.print(t)
    console.print(b)
    if st["positions"]:
        p = Table(title="Positions in the store")
        for col in ("#", "symbol", "status", "long", "short", "size", "opened", "backstops"):
            p.add_column(col)
        for x in st["positions"]:
            status = x["status"] + (f" ({x['flag']})" if x.get("flag") else "")  # a leg on a down exchange
            stops = "\n".join(f"{leg}: {what}" for leg, what in (x.get("backstops") or {}).items())
            p.add_row(str(x["id"]), x["symbol"], status, x["long"], x["short"], x["size"], x["opened_at"], stops)
        console.print(p)
    else:
        console.print("no open position in the store")
