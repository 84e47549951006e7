"""Prometheus metrics for market data and execution, read live from the feeds and the
PriceProvider at scrape time (no bookkeeping on the hot path).

Families (labels ``exchange``, and ``symbol`` for per-book ones):

* ``perpdex_feed_frames_total``, ``perpdex_feed_bytes_total``, ``perpdex_feed_dropped_frames_total``,
  ``perpdex_feed_reconnects_total``, ``perpdex_feed_rotations_total``, ``perpdex_feed_resyncs_total``;
* ``perpdex_feed_state`` (1 for the current state: connected | connecting | paused);
* ``perpdex_book_ready`` (1 when served), ``perpdex_book_age_seconds`` (since the last update);
* ``perpdex_price_provider_total`` (``source``: ws_hits | cache_hits | cache_misses | rest_calls);
* user-data streams (label ``exchange``): ``perpdex_user_stream_messages_total``,
  ``perpdex_user_stream_dropped_frames_total``, ``perpdex_user_stream_duplicates_total``,
  ``perpdex_user_stream_reconnects_total``, ``perpdex_user_stream_recovered_fills_total``,
  ``perpdex_user_stream_fills_total``, ``perpdex_user_stream_state`` (1 for the current state:
  connected | connecting | stopped).
* alerts (label ``channel``; see :mod:`perpdex.alerts.notifier`): ``perpdex_alerts_sent_total``,
  ``perpdex_alerts_failed_total``, ``perpdex_alerts_retries_total``, ``perpdex_alerts_dropped_total``,
  ``perpdex_alerts_suppressed_total``, ``perpdex_alerts_rate_limited_total``, ``perpdex_alerts_queued``
  (alerts waiting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

_COUNTERS = [
    ("frames", "perpdex_feed_frames", "WebSocket frames received"),
    ("bytes", "perpdex_feed_bytes", "WebSocket bytes received"),
    ("dropped", "perpdex_feed_dropped_frames", "Malformed or unexpected frames dropped"),
    ("reconnects", "perpdex_feed_reconnects", "Reconnections after a lost socket"),
    ("rotations", "perpdex_feed_rotations", "Planned connection rotations"),
    ("resyncs", "perpdex_feed_resyncs", "Books invalidated and resynced (gap, crossed, malformed)"),
]
_STATES = ("connected", "connecting", "paused")
_USER_COUNTERS = [
    ("messages", "perpdex_user_stream_messages", "User-data stream frames received"),
    ("dropped", "perpdex_user_stream_dropped_frames", "User-data frames dropped (malformed, error frames)"),
    ("duplicates", "perpdex_user_stream_duplicates", "User-data events ignored as already known (same trade id...)"),
    ("reconnects", "perpdex_user_stream_reconnects", "User-data stream reconnections"),
    ("recovered_fills", "perpdex_user_stream_recovered_fills", "Fills first learned from REST reconciliation"),
    ("fills", "perpdex_user_stream_fills", "Fills counted (once per trade id)"),
]
_USER_STATES = ("connected", "connecting", "stopped")
_ALERT_COUNTERS = [
    ("sent", "perpdex_alerts_sent", "Alerts the channel's receiver accepted"),
    ("failed", "perpdex_alerts_failed", "Alerts given up after the retries"),
    ("retries", "perpdex_alerts_retries", "Send attempts repeated after a failure"),
    ("dropped", "perpdex_alerts_dropped", "Alerts dropped from a full queue (the oldest) or left at exit"),
    ("suppressed", "perpdex_alerts_suppressed", "Alerts suppressed as duplicates within the dedupe window"),
    ("rate_limited", "perpdex_alerts_rate_limited", "Alerts held back by the channel's rate limit"),
]


class PerpdexCollector:
    """Collects from ``feeds()`` (objects with ``stats()``), ``counters()`` (PriceProvider) and
    ``user_streams()`` (:class:`~perpdex.exchanges.userstream.UserStream` objects) and ``alerts()``
    (:meth:`perpdex.alerts.notifier.Notifier.stats`)."""

    def __init__(self, feeds: Callable[[], Iterable[Any]], counters: Callable[[], dict[str, int]] | None = None,
                 user_streams: Callable[[], Iterable[Any]] | None = None,
                 alerts: Callable[[], dict[str, Any]] | None = None) -> None:
        self._feeds = feeds
        self._counters = counters
        self._user_streams = user_streams
        self._alerts = alerts

    def collect(self) -> Iterable[Any]:
        stats = [f.stats() for f in self._feeds()]
        for key, name, doc in _COUNTERS:
            fam = CounterMetricFamily(name, doc, labels=["exchange"])
            for st in stats:
                fam.add_metric([st["exchange"]], st[key])
            yield fam
        state = GaugeMetricFamily("perpdex_feed_state", "Feed connection state (1 = current)", labels=["exchange", "state"])
        ready = GaugeMetricFamily("perpdex_book_ready", "1 when the book is served", labels=["exchange", "symbol"])
        age = GaugeMetricFamily("perpdex_book_age_seconds", "Seconds since the book's last update",
                                labels=["exchange", "symbol"])
        for st in stats:
            for s in _STATES:
                state.add_metric([st["exchange"], s], 1.0 if st["state"] == s else 0.0)
            for sym, b in st["symbols"].items():
                ready.add_metric([st["exchange"], sym], 1.0 if b["ready"] else 0.0)
                if b["age_s"] is not None:
                    age.add_metric([st["exchange"], sym], b["age_s"])
        yield state
        yield ready
        yield age
        if self._user_streams is not None:
            yield from self._collect_user_streams([u.stats() for u in self._user_streams()])
        if self._counters is not None:
            fam = CounterMetricFamily("perpdex_price_provider", "PriceProvider lookups by source", labels=["source"])
            for source, n in self._counters().items():
                fam.add_metric([source], n)
            yield fam
        if self._alerts is not None:
            yield from self._collect_alerts(self._alerts()["channels"])

    @staticmethod
    def _collect_alerts(channels: list[dict[str, Any]]) -> Iterable[Any]:
        for key, name, doc in _ALERT_COUNTERS:
            fam = CounterMetricFamily(name, doc, labels=["channel"])
            for ch in channels:
                fam.add_metric([ch["name"]], ch[key])
            yield fam
        queued = GaugeMetricFamily("perpdex_alerts_queued", "Alerts waiting to be sent", labels=["channel"])
        for ch in channels:
            queued.add_metric([ch["name"]], ch["queued"])
        yield queued


    @staticmethod
    def _collect_user_streams(stats: list[dict[str, Any]]) -> Iterable[Any]:
        for key, name, doc in _USER_COUNTERS:
            fam = CounterMetricFamily(name, doc, labels=["exchange"])
            for st in stats:
                fam.add_metric([st["exchange"]], st[key])
            yield fam
        state = GaugeMetricFamily("perpdex_user_stream_state", "User-data stream state (1 = current)",
                                  labels=["exchange", "state"])
        for st in stats:
            for s in _USER_STATES:
                state.add_metric([st["exchange"], s], 1.0 if st["state"] == s else 0.0)
        yield state


def serve_metrics(port: int, collector: PerpdexCollector, host: str = "127.0.0.1") -> CollectorRegistry:
    """Expose ``collector`` at ``http://host:port/metrics`` (a daemon thread); returns the registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
    return registry
