"""Dependencies of the route handlers, as Annotated aliases (tests swap them with overrides).

They are `async def` although they never await: FastAPI runs a plain `def` dependency in a
worker thread, and one thread hop per dependency costs about as much as the model's prediction.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from .errors import ModelNotReadyError, UnsupportedMediaTypeError
from .loader import LoadedModel
from .schemas import PredictRequest
from .settings import Settings
from .state import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_model(state: StateDep) -> LoadedModel:
    if state.model is None:
        raise ModelNotReadyError
    return state.model


async def read_predict_request(request: Request) -> PredictRequest:
    """The predict request body, parsed and validated in one pass.

    pydantic parses and validates JSON bytes in one go, in Rust: for 100 rows that is several
    times cheaper than FastAPI's body handling (the standard library's json.loads, then
    validation of the Python objects). The OpenAPI document describes this body (see app.py).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"the body must be application/json, not {media_type or 'unlabelled'}",
            field="Content-Type",
        )
    try:
        return PredictRequest.model_validate_json(await request.body())
    except ValidationError as error:
        # Reported like any other invalid request, with the field inside the body.
        problems = error.errors(include_url=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems]
        ) from None


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
PredictRequestDep = Annotated[PredictRequest, Depends(read_predict_request)]
