"""Every registered exchange implements the whole interface: no client or funding adapter class
keeps an abstract method, so nothing above ``exchanges/`` needs to probe for a capability."""

from __future__ import annotations

import inspect

import pytest

from perpdex.exchanges import registry
from perpdex.exchanges.base import ExchangeClient, FundingAdapter


@pytest.mark.parametrize("name", registry.names())
def test_client_implements_every_method(name):
    cls = registry.client_class(name)
    assert issubclass(cls, ExchangeClient)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves {sorted(cls.__abstractmethods__)} abstract"


@pytest.mark.parametrize("name", registry.names())
def test_funding_adapter_implements_every_method(name):
    cls = registry.funding_class(name)
    assert issubclass(cls, FundingAdapter)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves {sorted(cls.__abstractmethods__)} abstract"


def test_the_interface_is_abstract_where_exchanges_differ():
    """The operations every exchange does its own way have no default that could hide a missing
    implementation (a base method raising NotImplementedError would pass the tests above)."""
    for method in ("fetch_fills", "fetch_open_orders", "place_stop_market", "fetch_open_conditional_orders",
                   "cancel_conditional_order", "fetch_funding_history_pages", "fetch_funding_payments",
                   "fetch_order", "fetch_position", "fetch_available_balance", "fetch_leverage_info",
                   "_make_user_stream", "_use_rest_session"):
        assert method in ExchangeClient.__abstractmethods__, method
