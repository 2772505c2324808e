"""Prometheus metrics: HTTP requests, the model's own, and each process's CPU time and memory.

Every service made from this template exports the same metric names, so one dashboard and one
set of alert rules cover all of them. Under gunicorn, prometheus_client's multiprocess mode adds
up the workers (gunicorn.conf.py sets its folder and marks dead workers).
"""

import asyncio
import os

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics

# Latency buckets in seconds, fine enough for p50/p95/p99 of a model that answers in
# milliseconds, wide enough for a slow batch.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# What each gunicorn worker publishes of its process (see ProcessMetrics).
WORKER_PROCESS_METRICS = {
    "process_cpu_seconds_total": "User and system CPU time of the process, in seconds.",
    "process_resident_memory_bytes": "Resident memory of the process, in bytes.",
    "process_start_time_seconds": "Start time of the process, in seconds since the epoch.",
}
PROCESS_REFRESH_SECONDS = 5.0
# Where Prometheus scrapes; its own requests are neither counted nor timed.
METRICS_PATH = "/metrics"


class ModelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.inference_seconds = Histogram(
            "model_inference_duration_seconds",
            "Time of one model call: the rows of one request, or of one micro-batch.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.request_rows = Histogram(
            "model_request_rows",
            "Rows per predict request.",
            buckets=ROWS_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter("model_predictions", "Rows predicted.", registry=registry)
        # Value 1 for the model being served; its labels carry the identity. "livemax" keeps
        # one series across worker processes and drops the series of dead ones.
        self.info = Gauge(
            "model_info",
            "The model being served (value 1).",
            ["name", "version", "framework"],
            multiprocess_mode="livemax",
            registry=registry,
        )

    def observe_call(self, seconds: float) -> None:
        self.inference_seconds.observe(seconds)

    def observe_request(self, rows: int) -> None:
        self.request_rows.observe(rows)
        self.predictions.inc(rows)

    def set_model(self, name: str, version: str, framework: str) -> None:
        self.info.labels(name=name, version=version, framework=framework).set(1)


def instrument(app: FastAPI, registry: CollectorRegistry) -> Gauge:
    """Count and time every request with prometheus-fastapi-instrumentator, serve /metrics, and
    return the gauge of requests in flight for the request middleware to keep.

    The metrics are the instrumentator's `requests` and `latency` with exact status codes, the
    names the dashboards read. Its own in-flight gauge is not used: it always registers in the
    global registry, and each app here has a registry of its own.
    """
    instrumentator = Instrumentator(
        should_group_status_codes=False, excluded_handlers=[f"^{METRICS_PATH}$"], registry=registry
    )
    instrumentator.add(
        http_metrics.requests(registry=registry),
        http_metrics.latency(buckets=LATENCY_BUCKETS, registry=registry),
    )
    instrumentator.instrument(app).expose(app, endpoint=METRICS_PATH, include_in_schema=False)
    return Gauge(
        "http_requests_inprogress",
        "HTTP requests being served.",
        multiprocess_mode="livesum",
        registry=registry,
    )


class ProcessMetrics:
    """CPU time, memory and start time of the process, and of each worker under gunicorn.

    prometheus_client's process collector does not work in multiprocess mode (its docs say so),
    so each worker copies its readings into "liveall" gauges every few seconds: one series per
    worker, labelled with its pid, removed when gunicorn marks the worker dead.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauges: dict[str, Gauge] = {}
        self.reader = ProcessCollector(registry=None)
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # set by gunicorn.conf.py
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
            return
        self.gauges = {
            name: Gauge(name, help_text, multiprocess_mode="liveall", registry=registry)
            for name, help_text in WORKER_PROCESS_METRICS.items()
        }

    def refresh(self) -> None:
        for family in self.reader.collect():
            for sample in family.samples:
                if (gauge := self.gauges.get(sample.name)) is not None:
                    gauge.set(sample.value)

    async def refresh_forever(self) -> None:
        """Keep the gauges current, as a task while the app serves (at once done in one process)."""
        while self.gauges:
            self.refresh()
            await asyncio.sleep(PROCESS_REFRESH_SECONDS)
