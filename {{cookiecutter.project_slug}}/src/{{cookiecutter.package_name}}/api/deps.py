from typing import Annotated, cast

from fastapi import Depends, Request

from ..observability.metrics import ModelMetrics
from ..serving.batching import MicroBatcher
from ..serving.loader import LoadedModel, ModelNotReadyError
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
