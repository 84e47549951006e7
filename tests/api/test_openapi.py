"""The OpenAPI schema: the committed docs/openapi.json is what the app serves (regenerate with
``perpdex serve --config configs/sim.yml --openapi docs/openapi.json``), and its key parts."""

from __future__ import annotations

import json
from pathlib import Path

from perpdex.api import create_app
from perpdex.config import parse_config
from perpdex.exchanges import registry

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGEN = "perpdex serve --config configs/sim.yml --openapi docs/openapi.json"


def schema() -> dict:
    # the schema does not depend on the configuration: any config gives the same one
    return create_app(parse_config({"exchanges": {registry.names()[0]: {}}})).openapi()


def test_committed_snapshot_is_up_to_date():
    committed = json.loads(SNAPSHOT.read_text())
    assert schema() == committed, f"docs/openapi.json is out of date: run `{REGEN}`"


def test_paths_parameters_and_responses():
    s = schema()
    live = {p for p in s["paths"] if p.startswith("/api/live/")}  # the dashboard's (tests/api/test_live.py)
    assert live == {f"/api/live/{p}" for p in ("status", "funding", "opportunities", "positions", "grid", "streams",
                                                "events", "pnl", "stream")}
    assert set(s["paths"]) - live == {"/health", "/funding-rates", "/funding-rates/{symbol}/history", "/opportunities"}
    for path, item in s["paths"].items():
        if path in live:
            continue
        assert set(item) == {"get"}, path
        ok = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        expected = {"/health": "HealthResponse", "/funding-rates": "FundingRatesResponse",
                    "/funding-rates/{symbol}/history": "FundingHistoryResponse",
                    "/opportunities": "OpportunitiesResponse"}[path]
        assert ok == f"#/components/schemas/{expected}"

    def params(path):
        return {p["name"]: p for p in s["paths"][path]["get"].get("parameters", [])}

    opp = params("/opportunities")
    assert set(opp) == {"min_net_apr", "symbol", "exchange", "hold_hours", "min_persistence_hours",
                        "min_mean_spread_apr", "history_hours", "limit"}
    assert all(p["in"] == "query" and not p["required"] and p["description"] for p in opp.values())
    assert opp["limit"]["schema"]["minimum"] == 1 and opp["limit"]["schema"]["maximum"] == 1000
    assert opp["limit"]["schema"]["default"] == 50
    hist = params("/funding-rates/{symbol}/history")
    assert hist["symbol"]["in"] == "path" and hist["symbol"]["required"]
    assert {"exclusiveMinimum": 0, "maximum": 8784, "type": "number"} in hist["hours"]["schema"]["anyOf"]
    assert set(params("/funding-rates")) == {"exchange", "symbol", "max_age_s"}
    for path in ("/funding-rates", "/funding-rates/{symbol}/history", "/opportunities"):
        assert "422" in s["paths"][path]["get"]["responses"]


def test_response_fields_state_their_units():
    comp = schema()["components"]["schemas"]
    rate = comp["FundingRate"]["properties"]
    for field in ("rate_per_interval", "interval_hours", "rate_8h", "rate_hourly", "apr", "mark_price",
                  "volume_24h_usd", "open_interest_usd", "next_funding_time", "collected_at", "age_s"):
        assert rate[field]["description"], field
    assert "per the exchange's funding interval" in rate["rate_per_interval"]["description"]
    assert "8 hours" in rate["rate_8h"]["description"] and "per year" in rate["apr"]["description"]
    assert rate["rate_8h"]["type"] == "string"  # exact decimals travel as strings
    assert set(comp["Opportunity"]["required"]) >= {"net_apr", "gross_apr", "fee_apr", "spread_8h", "long_exchange"}
    assert comp["Opportunity"]["properties"]["history"]["anyOf"][0] == {"$ref": "#/components/schemas/PairStatistics"}
    assert set(comp["PairStatistics"]["properties"]) >= {"mean_spread_8h", "mean_spread_apr", "persistence_hours", "samples"}
    health = comp["HealthResponse"]["properties"]
    assert health["status"]["enum"] == ["ok", "degraded"]
    assert comp["ExchangeHealth"]["properties"]["last_success_age_s"]["description"]
