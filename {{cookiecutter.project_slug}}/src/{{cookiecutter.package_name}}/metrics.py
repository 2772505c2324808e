"""Prometheus metrics: HTTP metrics from prometheus-fastapi-instrumentator, plus the model's own.

Every service made from this template exports the same metric names, so one dashboard and one
set of alert rules cover all of them.
"""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.types import ASGIApp, Receive, Scope, Send

# Latency buckets in seconds, fine enough for p50/p95/p99 of a model that answers in
# milliseconds, wide enough for a slow batch.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class ModelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.inference_seconds = Histogram(
            "model_inference_duration_seconds",
            "Time the model took to predict the rows of one request.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.request_rows = Histogram(
            "model_request_rows",
            "Rows per predict request.",
            buckets=ROWS_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "model_predictions",
            "Rows predicted.",
            registry=registry,
        )
        # Value 1 for the model being served; its labels carry the identity. "livemax" keeps
        # one series across worker processes and drops the series of dead ones.
        self.info = Gauge(
            "model_info",
            "The model being served (value 1).",
            ["name", "version", "framework"],
            multiprocess_mode="livemax",
            registry=registry,
        )

        # Counted here rather than by the instrumentator, whose in-progress gauge ignores the
        # registry it is given and so cannot exist in two apps of one process.
        self.in_flight = Gauge(
            "http_requests_inprogress",
            "HTTP requests being served.",
            multiprocess_mode="livesum",
            registry=registry,
        )

    def observe_inference(self, seconds: float, rows: int) -> None:
        self.inference_seconds.observe(seconds)
        self.request_rows.observe(rows)
        self.predictions.inc(rows)

    def set_model(self, name: str, version: str, framework: str) -> None:
        self.info.labels(name=name, version=version, framework=framework).set(1)


def instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count and time every request by route, and serve all metrics at GET /metrics."""
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, latency_lowr_buckets=LATENCY_BUCKETS).expose(app, include_in_schema=False)


class InFlightMiddleware:
    """Count the HTTP requests being served."""

    def __init__(self, app: ASGIApp, gauge: Gauge) -> None:
        self.app = app
        self.gauge = gauge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.gauge.track_inprogress():
            await self.app(scope, receive, send)
