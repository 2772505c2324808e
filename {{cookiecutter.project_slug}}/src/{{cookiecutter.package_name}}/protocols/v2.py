"""The Open Inference Protocol (V2: KServe, Triton, MLServer), REST with JSON tensors:
https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol

Rows come as one [N, F] input, the features in the order of `Features`, or as one [N] or [N, 1]
input per feature, named by it. Triton's binary tensor extension is not supported.
"""

import importlib.metadata
import math
from typing import Annotated, Any

import numpy as np
import structlog
from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..api.deps import InferenceDep, ModelDep, SettingsDep
from ..serving.loader import LoadedModel
from ..serving.prediction import Matrix
from .common import FIELDS, NamedModelDep, ProtocolRoute, as_array, bad, check_rows, json_body

router = APIRouter(prefix="/v2", route_class=ProtocolRoute, tags=["Open Inference Protocol"])
# Each datatype an input may have, with the numpy dtype kinds that its JSON values give.
DATATYPES = {"FP32": "fiu", "FP64": "fiu", "INT32": "iu", "INT64": "iu", "BOOL": "b"}
NAMES = [name for name, _ in FIELDS]
VERSION = importlib.metadata.version("{{ cookiecutter.project_slug }}")


class Tensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class TensorData(Tensor):
    data: list[Any] = Field(description="Row-major values, flat or nested.")


class OutputName(BaseModel):
    name: str


class InferenceRequest(BaseModel):
    id: str | None = None
    inputs: list[TensorData] = Field(min_length=1)
    outputs: list[OutputName] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[TensorData]


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[Tensor]
    outputs: list[Tensor]


def outputs_of(model: LoadedModel) -> dict[str, Tensor]:
    classes = model.metadata.classes
    predictions = Tensor(name="predictions", datatype="BYTES" if classes else "FP64", shape=[-1])
    if not classes:
        return {"predictions": predictions}
    probabilities = Tensor(name="probabilities", datatype="FP64", shape=[-1, len(classes)])
    return {"predictions": predictions, "probabilities": probabilities}


def to_matrix(inputs: list[TensorData]) -> Matrix:
    arrays = {}
    for tensor in inputs:
        what = f"input {tensor.name!r}"
        if tensor.datatype not in DATATYPES:
            raise bad(f"{what}: datatype {tensor.datatype!r} is not in {[*DATATYPES]}")
        array = as_array(tensor.data, DATATYPES[tensor.datatype], what)
        if min(tensor.shape, default=0) < 0 or math.prod(tensor.shape) != array.size:
            raise bad(f"{what}: shape {tensor.shape} does not fit {array.size} values")
        try:  # a shape with a 0 fits no data, whatever its other sizes
            arrays[tensor.name] = array.reshape(tensor.shape)
        except ValueError:
            raise bad(f"{what}: shape {tensor.shape} does not fit {array.size} values") from None
    if len(arrays) < len(inputs):
        raise bad("two inputs have the same name")
    first = next(iter(arrays.values()))
    if len(inputs) == 1 and first.ndim == 2 and first.shape[1] == len(NAMES):
        return first.astype(np.float64)
    if unknown := sorted(arrays.keys() - set(NAMES)):
        raise bad(f"unknown input {unknown[0]!r}: give [N, {len(NAMES)}] or per feature")
    if missing := [name for name in NAMES if name not in arrays]:
        raise bad(f"missing input {missing[0]!r}")
    columns = [arrays[name] for name in NAMES]
    if (
        any(c.ndim not in (1, 2) or c.size != len(c) for c in columns)
        or len(set(map(len, columns))) > 1
    ):
        raise bad("each feature's input must be [N] or [N, 1], of the same N")
    return np.column_stack(columns).astype(np.float64)


@router.get("")
async def server_metadata(settings: SettingsDep) -> dict[str, Any]:
    return {"name": settings.model_name, "version": VERSION, "extensions": []}


@router.get("/health/live")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def server_ready(_: ModelDep) -> dict[str, bool]:
    return {"ready": True}


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def model_metadata(model: NamedModelDep, settings: SettingsDep) -> ModelMetadataResponse:
    """The model's inputs, from the feature schema saved with it, and its outputs."""
    types = {"float": "FP64", "int": "INT64"}
    return ModelMetadataResponse(
        name=settings.model_name,
        versions=[model.metadata.version],
        platform=model.metadata.framework,
        inputs=[
            Tensor(name=f.name, datatype=types[f.type], shape=[-1]) for f in model.metadata.features
        ],
        outputs=list(outputs_of(model).values()),
    )


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(_: NamedModelDep, settings: SettingsDep) -> dict[str, Any]:
    return {"name": settings.model_name, "ready": True}


@router.post("/models/{name}/infer")
@router.post("/models/{name}/versions/{version}/infer")
async def infer(
    body: Annotated[InferenceRequest, json_body(InferenceRequest)],
    model: NamedModelDep,
    settings: SettingsDep,
    inference: InferenceDep,
) -> InferenceResponse:
    """Predict the rows of the inputs: labels and, for a classifier, class probabilities."""
    available = outputs_of(model)
    wanted = [output.name for output in body.outputs or []] or list(available)
    if unknown := [name for name in wanted if name not in available]:
        raise bad(f"unknown output {unknown[0]!r}: the model gives {[*available]}")
    x = check_rows(to_matrix(body.inputs), settings.max_rows)
    result = await inference.predict(x)
    classes = model.metadata.classes or []
    data = {
        "predictions": result.outputs,
        "probabilities": [row[c] for row in result.probabilities or [] for c in classes],
    }
    outputs = [
        available[name].model_dump() | {"shape": [len(x), *available[name].shape[1:]]}
        for name in wanted
    ]
    return InferenceResponse(
        model_name=settings.model_name,
        model_version=model.metadata.version,
        id=body.id or structlog.contextvars.get_contextvars().get("request_id", ""),
        outputs=[TensorData(**output, data=data[output["name"]]) for output in outputs],
    )
