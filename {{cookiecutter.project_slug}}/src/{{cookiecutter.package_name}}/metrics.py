"""Prometheus metrics: HTTP requests, the model's own, and each process's CPU time and memory.

Every service made from this template exports the same metric names, so one dashboard and one
set of alert rules cover all of them.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext, suppress
from pathlib import Path

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .metric_files import folder_lock

# Latency buckets in seconds, fine enough for p50/p95/p99 of a model that answers in
# milliseconds, wide enough for a slow batch.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# Seconds between two readings of a worker's CPU time and memory under gunicorn: shorter than any
# sensible scrape interval, and one reading (a few small files under /proc) takes about 0.2 ms.
PROCESS_REFRESH_SECONDS = 5.0

# The process metrics each gunicorn worker publishes, named as prometheus_client's own process
# collector names them in a single process, so that the same queries work in both modes.
WORKER_PROCESS_METRICS = {
    "process_cpu_seconds_total": "User and system CPU time of the process, in seconds.",
    "process_resident_memory_bytes": "Resident memory of the process, in bytes.",
    "process_start_time_seconds": "Start time of the process, in seconds since the epoch.",
}


def multiprocess_mode() -> bool:
    """True under gunicorn, whose config sets the variable before any worker starts."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


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

    def observe_call(self, seconds: float) -> None:
        """One call of the model, which may have served several requests (micro-batching)."""
        self.inference_seconds.observe(seconds)

    def observe_request(self, rows: int) -> None:
        self.request_rows.observe(rows)
        self.predictions.inc(rows)

    def set_model(self, name: str, version: str, framework: str) -> None:
        self.info.labels(name=name, version=version, framework=framework).set(1)


class HttpMetrics:
    """Requests by route, method and status, their duration, and the requests being served.

    Named and labelled as prometheus-fastapi-instrumentator names them (its `requests` and
    `latency` metrics), so that dashboards made for it work here. They are recorded by
    ObservabilityMiddleware rather than by the instrumentator's own middleware, which measured
    about 36 us per request (a second route lookup, a Request and a Response object each time):
    a third of what the sample model takes to predict one row.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("handler", "method", "status")
        self.requests = Counter(
            "http_requests", "Total number of requests by method, status and handler.",
            labels, registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "http_request_duration_seconds", "Duration of HTTP requests in seconds.",
            labels, buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "http_requests_inprogress",
            "HTTP requests being served.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        # The labelled children, by label values: looking them up through labels() each time
        # validates the values again.
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, handler: str, method: str, status: int, seconds: float) -> None:
        key = (handler, method, str(status))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(*key),
                self.duration.labels(*key),
            )
        children[0].inc()
        children[1].observe(seconds)


def expose(app: FastAPI, registry: CollectorRegistry) -> None:
    """Serve every metric at GET /metrics: in gunicorn's multiprocess mode, those of all workers.

    There, the registry served reads the workers' files at each scrape, under the folder's
    shared lock (see metric_files).
    """
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if multiprocess_mode() else None
    served = registry
    if folder is not None:
        served = CollectorRegistry()
        MultiProcessCollector(served, path=str(folder))

    # A plain function, run in the thread pool: reading many workers' files takes a while.
    def metrics() -> Response:
        with folder_lock(folder) if folder else nullcontext():
            body = generate_latest(served)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


class ProcessMetrics:
    """CPU time, memory and start time of the process, and of each worker under gunicorn.

    In a single process, prometheus_client's process, platform and GC collectors report them at
    scrape time. In multiprocess mode /metrics serves only what the workers wrote to their files,
    and a collector would describe whichever worker answered the scrape. So each worker publishes
    its own readings as gauges in "liveall" mode instead: one series per worker, labelled with its
    pid, which disappears when gunicorn marks the worker dead (gunicorn.conf.py, child_exit).
    """

    def __init__(self, registry: CollectorRegistry, *, multiprocess: bool) -> None:
        self.gauges: dict[str, Gauge] = {}
        self._reader = ProcessCollector(registry=None)
        if multiprocess:
            self.gauges = {
                name: Gauge(name, help_text, multiprocess_mode="liveall", registry=registry)
                for name, help_text in WORKER_PROCESS_METRICS.items()
            }
        else:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)

    def refresh(self) -> None:
        """Copy this process's current readings into its gauges."""
        for family in self._reader.collect():
            for sample in family.samples:
                gauge = self.gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)

    @asynccontextmanager
    async def refreshing(self, interval: float = PROCESS_REFRESH_SECONDS) -> AsyncIterator[None]:
        """Keep the gauges current while the block runs; nothing to do in a single process."""
        if not self.gauges:
            yield
            return
        self.refresh()
        task = asyncio.create_task(self._refresh_every(interval))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _refresh_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.refresh()
