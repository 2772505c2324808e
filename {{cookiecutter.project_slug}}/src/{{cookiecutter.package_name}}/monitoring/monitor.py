"""What the service watches beyond its own health: drift of inputs and predictions from the
training data, and a sample of the payloads. Every prediction route reports here (api/deps.py)."""

from typing import Annotated, cast

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from ..serving.metadata import ModelMetadata
from ..serving.prediction import Matrix, Predictions
from ..settings import Settings
from .drift import DriftMetrics
from .payloads import PayloadLog


class Monitor:
    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.drift = DriftMetrics(registry, settings.drift_features)
        self.payloads: PayloadLog | None = None

    def set_model(self, metadata: ModelMetadata) -> None:
        self.drift.set_model(metadata)
        if self.settings.payload_log_rate > 0:  # when off, no work at all per request
            names = [spec.name for spec in metadata.features]
            redact = {name.strip() for name in self.settings.payload_log_redact.split(",")} - {""}
            if unknown := sorted(redact - set(names)):
                # A misspelt name would log the very values it was meant to hide.
                raise ValueError(f"PAYLOAD_LOG_REDACT names no feature of the model: {unknown}")
            self.payloads = PayloadLog(self.settings.payload_log_rate, names, redact)

    def observe(self, x: Matrix, result: Predictions) -> None:
        self.drift.observe(x, result)
        if self.payloads is not None:
            self.payloads.sample(x, result)


async def get_monitor(request: Request) -> Monitor:
    return cast(Monitor, request.app.state.monitor)


MonitorDep = Annotated[Monitor, Depends(get_monitor)]
