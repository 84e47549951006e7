"""F02: the official Lighter SDK (lighter-sdk 1.1.8, strict pydantic models) reads markets, the
book and funding from the emulator with only its host changed."""

from __future__ import annotations

import lighter  # installed without its urllib3 pin (see Makefile); the dev extra brings the rest

from perpdex.sim.server import start_emulators


async def test_f02_official_sdk_reads_markets_book_and_funding():
    cluster = await start_emulators(["lighter"])
    try:
        venue = cluster.sim.venue("lighter")
        api = lighter.ApiClient(configuration=lighter.Configuration(host=cluster.endpoints["lighter"]["rest_url"]))
        try:
            details = await lighter.OrderApi(api).order_book_details()
            perps = {d.symbol: d for d in details.order_book_details}
            assert set(perps) == set(venue.markets)
            btc = perps["BTC"]
            assert btc.market_id == venue.markets["BTC"].market_id
            assert btc.price_decimals == venue.markets["BTC"].price_decimals

            book = await lighter.OrderApi(api).order_book_orders(market_id=btc.market_id, limit=5)
            (bid, _), (ask, _) = venue.bbo("BTC")
            assert float(book.bids[0].price) <= bid + 1e-9 and float(book.asks[0].price) >= ask - 1e-9
            assert float(book.bids[0].price) < float(book.asks[0].price)

            rates = await lighter.FundingApi(api).funding_rates()
            eth = next(r for r in rates.funding_rates if r.exchange == "lighter" and r.symbol == "ETH")
            # fraction per 8 h = hourly fraction x 8
            assert abs(eth.rate - venue.funding_rate("ETH") * 8) < 1e-12
        finally:
            await api.close()
    finally:
        await cluster.stop()
