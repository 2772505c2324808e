"""KServe's V1 inference protocol:
https://kserve.github.io/website/docs/concepts/architecture/data-plane/v1-protocol

Each instance is a row of numbers in the order of `Features`, or an object naming each feature.
"""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..api.body import WIDTH
from ..api.deps import InferenceDep, SettingsDep
from ..api.errors import field_name
from ..predictor import Features
from ..serving.prediction import Matrix, to_matrix
from .common import NamedModelDep, ProtocolRoute, as_array, bad, check_rows, json_body
from .explain import Explanation, explain_matrix

router = APIRouter(prefix="/v1/models", route_class=ProtocolRoute, tags=["KServe V1"])
NAMED_ROWS = TypeAdapter(list[Features])


class V1Request(BaseModel):
    instances: list[Any] = Field(min_length=1)


class V1Predictions(BaseModel):
    predictions: list[str] | list[float]


class V1Explanations(BaseModel):
    explanations: list[dict[str, Explanation]]


V1Body = Annotated[V1Request, json_body(V1Request)]


def instances_matrix(instances: list[Any], max_rows: int) -> Matrix:
    if all(isinstance(row, dict) for row in instances):
        try:
            x = to_matrix(NAMED_ROWS.validate_python(instances), WIDTH)
        except ValidationError as error:
            problem = error.errors(include_url=False)[0]
            message = f"instances{field_name(problem['loc'])}: {problem['msg']}"
            raise bad(message) from None
    else:
        x = as_array(instances, "fiu", "instances").astype(np.float64)
        if x.ndim != 2 or x.shape[1] != WIDTH:
            raise bad(f"instances: each must be {WIDTH} numbers, or name each feature")
    return check_rows(x, max_rows)


@router.get("/{name}")
async def model_status(_: NamedModelDep, settings: SettingsDep) -> dict[str, Any]:
    return {"name": settings.model_name, "ready": True}


@router.post("/{name}:predict")
async def predict(
    body: V1Body,
    model: NamedModelDep,
    settings: SettingsDep,
    inference: InferenceDep,
) -> V1Predictions:
    x = instances_matrix(body.instances, settings.max_rows)
    result = await inference.predict(x)
    return V1Predictions(predictions=result.outputs)


@router.post("/{name}:explain")
async def explain(body: V1Body, model: NamedModelDep, settings: SettingsDep) -> V1Explanations:
    x = instances_matrix(body.instances, settings.max_rows)
    return V1Explanations(explanations=await explain_matrix(model, x))
