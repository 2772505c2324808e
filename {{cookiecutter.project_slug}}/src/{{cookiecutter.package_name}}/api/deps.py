import time
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from ..monitoring.monitor import Monitor, MonitorDep
from ..observability.metrics import ModelMetrics
from ..serving.batching import MicroBatcher
from ..serving.loader import LoadedModel, ModelNotReadyError
from ..serving.prediction import Matrix, Predictions, predict_rows
from ..settings import Settings


# From what app.py keeps in `app.state`; `async def`: FastAPI runs a plain `def` in a thread.
async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_model(request: Request) -> LoadedModel:
    """The model being served; until it is loaded and warmed up, a 503."""
    model: LoadedModel | None = request.app.state.model
    if model is None:
        raise ModelNotReadyError
    return model


async def get_batcher(request: Request) -> MicroBatcher | None:
    return cast(MicroBatcher | None, request.app.state.batcher)


async def get_metrics(request: Request) -> ModelMetrics:
    return cast(ModelMetrics, request.app.state.model_metrics)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
BatcherDep = Annotated[MicroBatcher | None, Depends(get_batcher)]
MetricsDep = Annotated[ModelMetrics, Depends(get_metrics)]


@dataclass(frozen=True, slots=True)
class Inference:
    """Rows to predictions, for every prediction route: by the micro-batcher or inline, timed,
    counted and monitored."""

    model: LoadedModel
    settings: Settings
    batcher: MicroBatcher | None
    metrics: ModelMetrics
    monitor: Monitor

    async def predict(self, x: Matrix) -> Predictions:
        if self.batcher is not None and len(x) < self.settings.batch_max_rows:
            result = await self.batcher.predict(x)  # the batcher times its own model calls
        else:
            start = time.perf_counter()
            inline_max_rows = self.settings.inline_predict_max_rows
            result = await predict_rows(self.model.predictor.predict, x, inline_max_rows)
            self.metrics.observe_call(time.perf_counter() - start)
            result.check_count(len(x))
        self.metrics.observe_request(len(x))
        self.monitor.observe(x, result)
        return result


# A function, not the class itself: FastAPI would run the class's plain __init__ in a thread.
async def get_inference(
    model: ModelDep,
    settings: SettingsDep,
    batcher: BatcherDep,
    metrics: MetricsDep,
    monitor: MonitorDep,
) -> Inference:
    return Inference(model, settings, batcher, metrics, monitor)


InferenceDep = Annotated[Inference, Depends(get_inference)]
