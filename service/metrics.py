"""Prometheus metrics: request counts and latency by route and status, plus the
index (article count, version, age) read from the engine at scrape time.

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR``
(set by ``recommender serve``) and a scrape adds them up across workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from recommender import Engine

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class IndexCollector(Collector):
    """Index gauges computed from the serving engine when scraped."""

    def __init__(self, engine_or_none: Callable[[], Engine | None]) -> None:
        self._engine = engine_or_none

    def collect(self) -> Iterator[Metric]:
        engine = self._engine()
        if engine is None:
            return
        status = engine.status()
        articles = GaugeMetricFamily(
            "recommender_articles", "Articles that exist now (snapshot + live changes)."
        )
        articles.add_metric([], status.articles)
        yield articles
        info = GaugeMetricFamily(
            "recommender_index_info",
            "The served index version (the value is always 1).",
            labels=["version", "model"],
        )
        info.add_metric([status.index_version, status.model_id], 1)
        yield info
        age = GaugeMetricFamily(
            "recommender_index_age_seconds", "Seconds since the served snapshot was built."
        )
        age.add_metric([], status.age_seconds)
        yield age


class Metrics:
    """Request counters and latency histograms of one app."""

    def __init__(self, engine_or_none: Callable[[], Engine | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recommender_http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recommender_http_request_duration_seconds",
            "HTTP request latency by route and method.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.index = IndexCollector(engine_or_none)

    def install(self, app: Flask) -> None:
        """Time and count every request of ``app``."""

        @app.before_request
        def _start_timer() -> None:
            g.started = time.perf_counter()

        @app.after_request
        def _observe(response: Response) -> Response:
            # The route pattern, not the path: one series per route, whatever the ids.
            route = request.url_rule.rule if request.url_rule else "unmatched"
            elapsed = time.perf_counter() - g.get("started", time.perf_counter())
            self.observe(route, request.method, response.status_code, elapsed)
            return response

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request of ``route`` (its rule, e.g. ``/v1/articles/<article_id>``)
        and record how long it took."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (all gunicorn workers added up)."""
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            scrape = CollectorRegistry()
            multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        else:
            scrape = self.registry
        extra = CollectorRegistry()
        extra.register(self.index)
        return generate_latest(scrape) + generate_latest(extra)
