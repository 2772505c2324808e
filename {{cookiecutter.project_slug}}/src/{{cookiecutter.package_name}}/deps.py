"""Dependencies of the route handlers, as Annotated aliases (tests swap them with overrides)."""

from typing import Annotated

from fastapi import Depends, Request

from .errors import ModelNotReadyError
from .loader import LoadedModel
from .metrics import ModelMetrics
from .settings import Settings
from .state import ServiceState


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_metrics(state: StateDep) -> ModelMetrics:
    return state.metrics


def get_model(state: StateDep) -> LoadedModel:
    if state.model is None:
        raise ModelNotReadyError
    return state.model


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ModelMetrics, Depends(get_metrics)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
