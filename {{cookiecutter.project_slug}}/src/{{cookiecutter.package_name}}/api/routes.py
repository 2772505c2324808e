"""The service's own routes: prediction, model description and health."""

from typing import Any

import structlog
from fastapi import APIRouter

from ..serving.prediction import to_matrix
from .body import WIDTH, PredictBody
from .deps import InferenceDep, ModelDep, SettingsDep
from .schemas import ErrorResponse, ModelInfo, PredictResponse

router = APIRouter()
COMPONENTS = "#/components/schemas/"

NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "The model is not loaded yet."}
}
INVALID: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "The body is too large."},
    415: {"model": ErrorResponse, "description": "The body is not application/json."},
    422: {"model": ErrorResponse, "description": "The body does not match the feature schema."},
}
# The body that body.py reads and validates (app.py adds its schemas and an example).
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": COMPONENTS + "PredictRequest"}}},
    }
}


@router.post("/predict", responses=NOT_READY | INVALID, openapi_extra=PREDICT_BODY)
async def predict(
    body: PredictBody, model: ModelDep, settings: SettingsDep, inference: InferenceDep
) -> PredictResponse:
    """Predict one or many rows."""
    x = to_matrix(body.instances, WIDTH)
    result = await inference.predict(x)
    return PredictResponse(
        predictions=result.outputs,
        probabilities=result.probabilities,
        model_name=settings.model_name,
        model_version=model.metadata.version,
        request_id=structlog.contextvars.get_contextvars().get("request_id", ""),
    )


@router.get("/model", responses=NOT_READY)
async def describe_model(model: ModelDep, settings: SettingsDep) -> ModelInfo:
    """Describe the model being served: identity and feature schema."""
    return ModelInfo.model_validate(
        model.metadata.model_dump(exclude={"summary", "evaluation"})
        | {"name": settings.model_name, "loaded_at": model.loaded_at}
    )


# HEAD too, for the load balancers that check health with it; the server sends no body.
@router.get("/health/live")
@router.head("/health/live", include_in_schema=False)
async def live() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "alive"}


@router.get("/health/ready", responses=NOT_READY)
@router.head("/health/ready", include_in_schema=False)
async def ready(_: ModelDep) -> dict[str, str]:
    """200 once the model is loaded and has made its warm-up prediction; 503 before."""
    return {"status": "ready"}
