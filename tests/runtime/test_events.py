"""The runtime's event bus: subscribers get each event once with plain JSON figures, a failing
subscriber is logged and never stops the others, the last events are kept for a late reader."""

import json
import logging
from decimal import Decimal

from perpdex.runtime.events import EventBus, EventKind


def test_publish_reaches_every_subscriber_and_keeps_the_recent(caplog):
    bus = EventBus(keep=3)
    got: list = []

    def broken(ev):
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    remove = bus.subscribe(got.append)
    with caplog.at_level(logging.INFO, logger="perpdex.runtime.events"):
        ev = bus.publish(EventKind.POSITION_CLOSED, "position #4 closed: spread faded", strategy="funding_arb",
                         position_id=4, net_usd=Decimal("1.25"), kind_of_close=EventKind.INFO)
    assert got == [ev] and ev.data == {"position_id": 4, "net_usd": "1.25", "kind_of_close": "info"}
    assert "position #4 closed" in caplog.text and "event subscriber failed" in caplog.text
    assert json.loads(json.dumps(ev.as_dict()))["kind"] == "position_closed"
    remove()
    for i in range(4):
        bus.publish("info", f"line {i}", level=logging.DEBUG)
    assert len(got) == 1
    assert [e.message for e in bus.recent()] == ["line 1", "line 2", "line 3"]
    assert [e.message for e in bus.recent(1)] == ["line 3"]
