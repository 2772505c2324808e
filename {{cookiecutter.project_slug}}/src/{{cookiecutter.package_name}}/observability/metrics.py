"""Prometheus metrics, the same names in every service so that one dashboard covers them all.
Under gunicorn, multiprocess mode adds up the workers (gunicorn.conf.py sets it up)."""

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

from ..serving.metadata import ModelMetadata

# Seconds: fine enough for the p99 of a model that answers in milliseconds, wide for a batch.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

WORKER_PROCESS_METRICS = {
    "process_cpu_seconds_total": "User and system CPU time of the process, in seconds.",
    "process_resident_memory_bytes": "Resident memory of the process, in bytes.",
    "process_start_time_seconds": "Start time of the process, in seconds since the epoch.",
}
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
        # "livemax": one series across the worker processes, and none of dead ones.
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

    def set_model(self, name: str, metadata: ModelMetadata) -> None:
        self.info.labels(name=name, version=metadata.version, framework=metadata.framework).set(1)


def instrument(app: FastAPI, registry: CollectorRegistry) -> Gauge:
    """Count and time requests with prometheus-fastapi-instrumentator, serve /metrics, and return
    the in-flight gauge (the instrumentator's own registers in the global registry)."""
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
    """CPU time, memory and start time of the process; under gunicorn, where the process
    collector does not work, each worker copies them into "liveall" gauges (a series per pid)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauges: dict[str, Gauge] = {}
        self.reader = ProcessCollector(registry=None)
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # set by gunicorn.conf.py
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=registry)
            return
        self.gauges = {
            name: Gauge(name, help_text, multiprocess_mode="liveall", registry=registry)
            for name, help_text in WORKER_PROCESS_METRICS.items()
        }
        self.refresh()  # a worker's first scrape must not read zeros

    def refresh(self) -> None:
        for family in self.reader.collect():
            for sample in family.samples:
                if (gauge := self.gauges.get(sample.name)) is not None:
                    gauge.set(sample.value)

    async def refresh_forever(self, seconds: float = 5.0) -> None:
        """Keep the gauges current while the app serves (returns at once in one process)."""
        while self.gauges:
            self.refresh()
            await asyncio.sleep(seconds)
