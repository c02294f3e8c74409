"""Prometheus metrics of one hub app (its own registry, so several apps can live in one
test process).

Example::

    metrics = HubMetrics()
    metrics.ingested.labels(result="accepted").inc(10)
    text = metrics.render()
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class HubMetrics:
    """The hub's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "ioc_events_ingested", "Events posted by edges, by result", ["result"], registry=self.registry
        )
        self.ingest_seconds = Histogram(
            "ioc_ingest_batch_seconds", "Time to store and publish one event batch", registry=self.registry
        )
        self.ws_clients = Gauge("ioc_ws_clients", "Connected websocket clients", registry=self.registry)
        self.ws_lagged = Counter(
            "ioc_ws_lagged_messages", "Live messages skipped for slow websocket clients", registry=self.registry
        )
        self.evidence_bytes = Counter(
            "ioc_evidence_stored_bytes", "Evidence bytes stored", registry=self.registry
        )
        self.edge_outbox_rejected = Gauge(
            "ioc_edge_outbox_rejected", "Events an edge refused or the hub rejected, parked in the edge's outbox",
            ["edge"], registry=self.registry,
        )
        self.logins = Counter("ioc_logins", "Login attempts, by result", ["result"], registry=self.registry)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
