"""Prometheus metrics scraped over HTTP while a feed runs against the emulator."""

from __future__ import annotations

import socket

import aiohttp

from perpdex.app import runtime
from perpdex.config import parse_config
from perpdex.execution.price_provider import PriceProvider
from perpdex.metrics import PerpdexCollector, serve_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_metrics_endpoint_reports_feed_and_price_provider(tmp_path):
    cfg = parse_config({"sim": {"enabled": True}, "exchanges": {"lighter": {}},
                        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}})
    async with runtime(cfg) as rt:
        client = rt.clients["lighter"]
        await client.prepare_market_feed("BTC")
        assert await client.feed.wait_ready("BTC", 10)
        prices = PriceProvider()
        await prices.fetch_bbo(client, "BTC")
        port = _free_port()
        serve_metrics(port, PerpdexCollector(lambda: [client.feed], prices.counters))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
        lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                 if line and not line.startswith("#")}
        assert lines['perpdex_feed_frames_total{exchange="lighter"}'] > 0
        assert lines['perpdex_feed_bytes_total{exchange="lighter"}'] > 0
        assert lines['perpdex_feed_state{exchange="lighter",state="connected"}'] == 1.0
        assert lines['perpdex_book_ready{exchange="lighter",symbol="BTC"}'] == 1.0
        assert lines['perpdex_book_age_seconds{exchange="lighter",symbol="BTC"}'] >= 0
        assert lines['perpdex_price_provider_total{source="ws_hits"}'] == 1.0
