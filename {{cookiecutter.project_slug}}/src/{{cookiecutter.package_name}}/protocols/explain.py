"""POST /explain: per row, each feature's contribution to the model's raw score, from the
predictor's optional `explain` method (for a tree model, its exact tree SHAP values); else a 501."""

from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..api.body import WIDTH, PredictBody
from ..api.deps import ModelDep, SettingsDep
from ..api.routes import INVALID, NOT_READY, PREDICT_BODY
from ..api.schemas import ErrorResponse
from ..serving.loader import LoadedModel
from ..serving.prediction import Matrix, to_matrix
from .common import FIELDS

router = APIRouter()
UNSUPPORTED: dict[int | str, dict[str, Any]] = {
    501: {"model": ErrorResponse, "description": "The model offers no explanations."}
}


class Explanation(BaseModel):
    bias: float = Field(description="The raw score before any feature's contribution.")
    contributions: dict[str, float]


class ExplainResponse(BaseModel):
    explanations: list[dict[str, Explanation]] = Field(
        description="Per row, per score (each class of a multi-class model, the positive class of "
        "a binary one): the contributions and the bias add up to the model's raw score."
    )
    model_name: str
    model_version: str
    request_id: str


async def explain_matrix(model: LoadedModel, x: Matrix) -> list[dict[str, Explanation]]:
    explain = getattr(model.predictor, "explain", None)
    if explain is None:
        framework = model.metadata.framework
        raise HTTPException(501, f"the {framework} predictor has no explain method to call")
    # Exact tree SHAP takes far longer than a prediction, and than the hop to a thread.
    values: npt.NDArray[np.floating] = await run_in_threadpool(explain, x)
    classes = model.metadata.classes or [""]
    labels = classes if values.shape[1] > 1 else classes[-1:]
    names = [name for name, _ in FIELDS]
    return [
        {
            label: Explanation(
                bias=scores[-1], contributions=dict(zip(names, scores[:-1], strict=True))
            )
            for label, scores in zip(labels, row, strict=True)
        }
        for row in values.tolist()
    ]


@router.post("/explain", responses=NOT_READY | INVALID | UNSUPPORTED, openapi_extra=PREDICT_BODY)
async def explain(body: PredictBody, model: ModelDep, settings: SettingsDep) -> ExplainResponse:
    """Explain one or many rows: each feature's contribution to the model's raw score."""
    return ExplainResponse(
        explanations=await explain_matrix(model, to_matrix(body.instances, WIDTH)),
        model_name=settings.model_name,
        model_version=model.metadata.version,
        request_id=structlog.contextvars.get_contextvars().get("request_id", ""),
    )
