"""Dependencies of the route handlers, as Annotated aliases (tests swap them with overrides).

create_app puts the settings and the model metrics in `app.state`; the lifespan adds the loaded
model, and the micro-batcher when it is on. They are `async def` although they never await:
FastAPI runs a plain `def` dependency in a thread, a hop that costs about as much as the
sample model's prediction.
"""

from typing import Annotated

from fastapi import Depends, Request

from ..observability.metrics import ModelMetrics
from ..serving.batching import MicroBatcher
from ..serving.loader import LoadedModel, ModelNotReadyError
from ..settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_model(request: Request) -> LoadedModel:
    """The model being served; until it is loaded and warmed up, a 503."""
    model: LoadedModel | None = request.app.state.model
    if model is None:
        raise ModelNotReadyError
    return model


async def get_batcher(request: Request) -> MicroBatcher | None:
    batcher: MicroBatcher | None = request.app.state.batcher
    return batcher


async def get_metrics(request: Request) -> ModelMetrics:
    metrics: ModelMetrics = request.app.state.model_metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
BatcherDep = Annotated[MicroBatcher | None, Depends(get_batcher)]
MetricsDep = Annotated[ModelMetrics, Depends(get_metrics)]
