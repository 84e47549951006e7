"""The runtime: order and position tracking under every strategy.

Strategies decide WHAT to trade; the runtime owns HOW: the user-data streams and their REST
reconciliation, the orders and fills of each strategy (client order ids carry the strategy),
crash recovery against storage, funding-payment sync, cooldowns and the market-data pause
policy. Nothing here names an exchange.
"""
