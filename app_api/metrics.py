"""Prometheus metrics of the API: requests by route and status, latency, published reports.

Under gunicorn every worker is a process with its own counters, and a scrape reaches one of
them. So the server runs prometheus-client's multiprocess mode: each worker writes its samples
to files in one directory (``METRICS_MULTIPROC_DIR``, a fresh temporary directory the CLI
creates and removes) and ``/metrics`` adds up the files of all workers. Without that directory
(the Flask dev server, tests) the app keeps its samples in its own in-memory registry.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

EXTENSION_KEY = "deliverer_api_metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def enable_multiprocess(directory: str) -> None:
    """Switch prometheus-client to multiprocess mode before any API metric exists.

    The library picks its value store once, when it is first imported, from the environment;
    the ``deliverer`` command imports it before it knows it will run gunicorn, so the choice is
    made again here (what the library's own import-time code does).
    """
    os.environ[MULTIPROC_ENV] = directory
    values.ValueClass = values.get_value_class()


class ApiMetrics:
    def __init__(self, multiproc_dir: str | None) -> None:
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "deliverer_api_requests", "HTTP requests answered, by route, method and status",
            ["route", "method", "status"], registry=r,
        )
        self.latency = Histogram(
            "deliverer_api_request_seconds", "Time to answer a request, by route and method",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.published = Counter(
            "deliverer_api_published_reports", "Reports the broker acknowledged (QoS 1)", registry=r
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        """Each label set's counter and histogram, looked up once: ``labels()`` takes a lock and builds
        its key anew on every call. As bounded as the series themselves (labels from closed sets)."""

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            # Two threads may both get here first: labels() hands both the same children.
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)), self.latency.labels(route, method)
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        if self.multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


def api_metrics() -> ApiMetrics:
    metrics: ApiMetrics = current_app.extensions[EXTENSION_KEY]
    return metrics


def _start_timer() -> None:
    g.started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.pop("started", None)
    if started is not None:
        # Labels from a closed set only: a client must not be able to invent new series.
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        method = request.method
        api_metrics().record(
            route, method if method in KNOWN_METHODS else "other", response.status_code,
            time.perf_counter() - started,
        )
    return response


def metrics_response() -> Response:
    return Response(api_metrics().exposition(), content_type=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask, multiproc_dir: str | None) -> None:
    app.extensions[EXTENSION_KEY] = ApiMetrics(multiproc_dir)
    app.before_request(_start_timer)
    app.after_request(_record)
