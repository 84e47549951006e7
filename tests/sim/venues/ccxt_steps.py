"""Steps that the ccxt tests of several emulated venues take the same way."""

from __future__ import annotations

from typing import Any


async def long_with_stop_below(ex: Any, venue: Any, symbol: str, trigger_key: str,
                               params: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """With ccxt client ``ex`` on the emulated ``venue`` (its canonical market ``"BTC"``, ccxt
    ``symbol``): load the markets, buy 0.02 at market, then place a 0.05 sell stop market whose
    trigger (``params[trigger_key]``, the venue's name for it) is 90 % of the mark, with the
    venue's other ``params``. Returns ``(mark, trigger, the stop as ccxt answered it)``."""
    await ex.load_markets()
    await ex.create_order(symbol, "market", "buy", 0.02)
    mark = venue.mark_price("BTC")
    trigger = round(mark * 0.9, 1)
    stop = await ex.create_order(symbol, "market", "sell", 0.05, None, {trigger_key: trigger, **params})
    return mark, trigger, stop
