"""The app with its collection loop running against the in-process emulator (sim.enabled), one
exchange pointing at a port nothing listens on: the others are collected and served, the dead one
shows in /health."""

from __future__ import annotations

import asyncio
import socket

from perpdex.api import create_app
from perpdex.exchanges import registry
from tests.api.conftest import api_client, make_config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_collection_in_lifespan_and_dead_exchange_in_health(tmp_path):
    names = registry.names()
    dead = names[0]
    port = closed_port()
    exchanges = {n: {} for n in names}
    exchanges[dead] = {"rest_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}"}
    cfg = make_config(tmp_path, exchanges, sim={"enabled": True, "funding_time_scale": 720},
                      service={"interval_s": 0.3})
    app = create_app(cfg)
    async with api_client(app) as client:
        for _ in range(300):  # the first round lands within a second; bounded so a hang fails
            health = (await client.get("/health")).json()
            if health["rounds"] >= 1:
                break
            await asyncio.sleep(0.1)
        assert health["status"] == "degraded" and health["collecting"] is True
        assert health["exchanges_down"] == 1  # the dead one, counted
        by = {e["exchange"]: e for e in health["exchanges"]}
        assert list(by) == names
        assert by[dead]["ok"] is False and by[dead]["errors"] >= 1 and by[dead]["consecutive_errors"] >= 1
        assert "Cannot connect" in by[dead]["last_error"] and by[dead]["last_success_at"] is None
        for n in names[1:]:
            assert by[n]["ok"] and by[n]["errors"] == 0 and by[n]["samples_last_round"] == 10
            assert by[n]["last_success_age_s"] is not None and by[n]["taker_fee"] is not None

        rates = (await client.get("/funding-rates")).json()
        assert rates["count"] == 30 and {r["exchange"] for r in rates["rates"]} == set(names[1:])
        opps = (await client.get("/opportunities")).json()
        assert dead in opps["skipped_exchanges"] and opps["count"] > 0
        assert all(dead not in (o["long_exchange"], o["short_exchange"]) for o in opps["opportunities"])
    # the lifespan closed the service
    assert not app.state.service.running
