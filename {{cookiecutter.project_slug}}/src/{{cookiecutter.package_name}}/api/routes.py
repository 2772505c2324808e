import time
from typing import Any

import structlog
from fastapi import APIRouter

from ..monitoring.monitor import MonitorDep
from ..serving.prediction import predict_rows, to_matrix
from .body import WIDTH, PredictBody
from .deps import BatcherDep, MetricsDep, ModelDep, SettingsDep
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
    *,  # FastAPI reads the parameters by name
    body: PredictBody,
    model: ModelDep,
    settings: SettingsDep,
    batcher: BatcherDep,
    metrics: MetricsDep,
    monitor: MonitorDep,
) -> PredictResponse:
    """Predict one or many rows."""
    rows = len(body.instances)
    x = to_matrix(body.instances, WIDTH)
    if batcher is not None and rows < settings.batch_max_rows:
        result = await batcher.predict(x)  # the batcher times its own model calls
    else:
        start = time.perf_counter()
        result = await predict_rows(model.predictor.predict, x, settings.inline_predict_max_rows)
        metrics.observe_call(time.perf_counter() - start)
        result.check_count(rows)
    metrics.observe_request(rows)
    monitor.observe(x, result)
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
