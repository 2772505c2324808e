"""The HTTP routes: prediction, model description and health."""

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from .deps import ModelDep, SettingsDep
from .errors import TooManyRowsError
from .loader import LoadedModel
from .payload import read_predict_request
from .prediction import Predictions
from .predictor import Features
from .request_id import current_request_id
from .schemas import ModelInfo, PredictResponse, Status
from .settings import Settings
from .state import ServiceState

router = APIRouter()

NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "The model is not loaded yet."}}
INVALID: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not valid JSON."},
    413: {"description": "The body is too large."},
    415: {"description": "The body is not application/json."},
    422: {"description": "The body does not match the feature schema."},
}


@router.post("/predict", response_model=PredictResponse, responses=NOT_READY | INVALID)
async def predict(request: Request) -> Response:
    """Predict one or many rows."""
    # The hottest route takes no dependencies: FastAPI spends about 10 us resolving each one,
    # a tenth of what the model takes for one row. It reads the state directly, and parses its
    # body itself (the OpenAPI document describes that body, see app.py).
    state: ServiceState = request.app.state.service
    settings, metrics, batcher = state.settings, state.metrics, state.batcher
    model = state.ready_model()
    body = await read_predict_request(request, settings.max_body_bytes)
    rows = body.instances
    if len(rows) > settings.max_rows:
        raise TooManyRowsError(
            f"at most {settings.max_rows} rows per request, got {len(rows)}", field="instances"
        )
    if batcher is not None and len(rows) < settings.batch_max_rows:
        batched = await batcher.predict(rows)
        result, seconds = batched.predictions, batched.seconds
    else:
        start = time.perf_counter()
        result = await predict_now(model, settings, rows)
        seconds = time.perf_counter() - start
    metrics.observe_inference(seconds, len(rows))
    response = PredictResponse(
        predictions=result.outputs,
        probabilities=result.probabilities,
        model_name=settings.model_name,
        model_version=model.metadata.version,
        request_id=current_request_id() or "",
    )
    # Serialized directly: FastAPI would validate the response model again before encoding it.
    return Response(response.model_dump_json(), media_type="application/json")


async def predict_now(model: LoadedModel, settings: Settings, rows: list[Features]) -> Predictions:
    # A tree model predicts a few rows in well under a millisecond, and calling it on the event
    # loop is cheaper than the hop to a worker thread. Measured with the sample model: 1 row
    # 0.10 ms, 100 rows 0.29 ms, 1000 rows 2 ms; one threadpool round trip 0.10 ms. Larger
    # batches go to a thread so that the loop keeps serving health checks meanwhile.
    if len(rows) <= settings.inline_predict_max_rows:
        return model.predictor.predict(rows)
    return await run_in_threadpool(model.predictor.predict, rows)


@router.get("/model", responses=NOT_READY)
async def describe_model(model: ModelDep, settings: SettingsDep) -> ModelInfo:
    """Describe the model being served: identity and feature schema."""
    metadata = model.metadata
    return ModelInfo(
        name=settings.model_name,
        version=metadata.version,
        framework=metadata.framework,
        task=metadata.task,
        classes=metadata.classes,
        features=metadata.features,
        trained_at=metadata.trained_at,
        loaded_at=model.loaded_at,
    )


@router.get("/health/live")
async def live() -> Status:
    """200 while the process runs."""
    return Status(status="alive")


@router.get("/health/ready", responses=NOT_READY)
async def ready(_: ModelDep) -> Status:
    """200 once the model is loaded and has made its warm-up prediction; 503 before."""
    return Status(status="ready")
