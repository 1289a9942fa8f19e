"""Prometheus metrics and a health endpoint for the subscriber (``--metrics-port``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

CONNECTION_TIMEOUT_S = 10
"""How long one connection may sit without sending: a health check gives up after a few seconds, so
a client that never finishes its request is hung up on rather than left to hold a thread."""


class SubscriberMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("deliverer_subscriber_received", "Messages received from the broker", registry=r)
        self.stored = Counter("deliverer_subscriber_stored", "Reports newly written to the store", registry=r)
        self.duplicates = Counter(
            "deliverer_subscriber_duplicates", "Redelivered reports the store already had", registry=r
        )
        self.rejected = Counter(
            "deliverer_subscriber_rejected", "Reports dead-lettered, by reason", ["reason"], registry=r
        )
        self.batch_size = Histogram(
            "deliverer_subscriber_batch_size", "Messages per store write",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=r,
        )
        self.write_seconds = Histogram(
            "deliverer_subscriber_write_seconds", "Store write latency per batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )
        self.unacked = Gauge(
            "deliverer_subscriber_unacked", "Messages received and not yet acknowledged", registry=r
        )
        self.dropped_messages = Counter(
            "deliverer_subscriber_dropped",
            "Messages the store refused even as a dead letter (logged with the error)", registry=r,
        )
        self.poisoned = Counter(
            "deliverer_subscriber_poisoned",
            "Messages dead-lettered unread after too many redeliveries", registry=r,
        )
        self.store_failures = Counter(
            "deliverer_subscriber_store_failures", "Failed store write attempts", registry=r
        )
        self.peak_unacked = 0
        Gauge(
            "deliverer_subscriber_unacked_peak",
            "Most messages ever held unacknowledged at once: the broker's Receive Maximum bounds it",
            registry=r,
        ).set_function(lambda: self.peak_unacked)
        self.connected = Gauge("deliverer_subscriber_connected", "1 while connected to the broker", registry=r)
        self._last_write = time.monotonic()
        Gauge(
            "deliverer_subscriber_seconds_since_last_write",
            "Seconds since the last successful store write (or since start)", registry=r,
        ).set_function(lambda: time.monotonic() - self._last_write)

    # The ingest service's write events (deliverer.services.writer.WriteEvents).

    def store_failed(self) -> None:
        self.store_failures.inc()

    def batch_written(self, seconds: float) -> None:
        self.write_seconds.observe(seconds)
        self._last_write = time.monotonic()

    def dead_lettered(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def dropped(self) -> None:
        self.dropped_messages.inc()


class _QuietHandler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _MetricsServer(ThreadingWSGIServer):
    """A thread per connection (as prometheus_client's own server), so that one slow client holds
    its own thread only, and quiet about the clients it hangs up on."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def serve(
    metrics: SubscriberMetrics, host: str, port: int, health: Callable[[], dict[str, Any]]
) -> ThreadingWSGIServer:
    """Serve ``/metrics`` and ``/healthz`` (200 once connected and subscribed, 503 otherwise) in a daemon
    thread, each connection in its own. ``OSError`` when the address cannot be served."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            state = health()
            status = "200 OK" if state.get("connected") and state.get("subscribed") else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(state).encode()]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, server_class=_MetricsServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
