"""Dependencies of the route handlers, as Annotated aliases (tests swap them with overrides).

They are `async def` although they never await: FastAPI runs a plain `def` dependency in a
worker thread, and five thread hops per request cost more than the model's prediction.
"""

from typing import Annotated

from fastapi import Depends, Request

from .batching import MicroBatcher
from .errors import ModelNotReadyError
from .loader import LoadedModel
from .metrics import ModelMetrics
from .settings import Settings
from .state import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_metrics(state: StateDep) -> ModelMetrics:
    return state.metrics


async def get_model(state: StateDep) -> LoadedModel:
    if state.model is None:
        raise ModelNotReadyError
    return state.model


async def get_batcher(state: StateDep) -> MicroBatcher | None:
    return state.batcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ModelMetrics, Depends(get_metrics)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
BatcherDep = Annotated[MicroBatcher | None, Depends(get_batcher)]
