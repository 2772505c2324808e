"""Dependencies of the route handlers, as Annotated aliases (tests swap them with overrides).

They are `async def` although they never await: FastAPI runs a plain `def` dependency in a
worker thread, and one thread hop per dependency costs about as much as the model's prediction.
"""

from typing import Annotated

from fastapi import Depends, Request

from .loader import LoadedModel
from .settings import Settings
from .state import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_model(state: StateDep) -> LoadedModel:
    return state.ready_model()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
