"""The Open Inference Protocol (KServe V2, Triton's and MLServer's HTTP API), REST with JSON
tensors: https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol

Rows come as one [N, F] input (the features in the order of `Features`), or one [N] or [N, 1]
input per feature, named by it. Triton's binary tensor extension is not supported: clients send
JSON (tritonclient: `binary_data=False`).
"""

import importlib.metadata
import math
from typing import Annotated, Any

import numpy as np
import structlog
from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..serving.loader import LoadedModel
from ..serving.prediction import Matrix
from .body import WIDTH
from .deps import BatcherDep, MetricsDep, ModelDep, SettingsDep
from .inference import predict_matrix
from .protocols import (
    FIELDS,
    NamedModelDep,
    ProtocolRoute,
    as_array,
    bad_request,
    check_rows,
    json_body,
)

router = APIRouter(prefix="/v2", route_class=ProtocolRoute, tags=["Open Inference Protocol"])
# The datatypes an input may have, with the numpy dtype kinds that their JSON values give.
DATATYPES = {"FP32": "fiu", "FP64": "fiu", "INT32": "iu", "INT64": "iu", "BOOL": "b"}
FEATURE_TYPES = {"float": "FP64", "int": "INT64"}


class Tensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class InputTensor(Tensor):
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="Row-major values, flat or nested.")


class OutputTensor(Tensor):
    data: list[Any]


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[OutputTensor]


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[Tensor]
    outputs: list[Tensor]


def output_tensors(model: LoadedModel) -> list[Tensor]:
    classes = model.metadata.classes
    tensors = [Tensor(name="predictions", datatype="BYTES" if classes else "FP64", shape=[-1])]
    if classes:
        tensors.append(Tensor(name="probabilities", datatype="FP64", shape=[-1, len(classes)]))
    return tensors


def to_matrix(inputs: list[InputTensor]) -> Matrix:
    """The rows of the request's inputs, a column per feature in the order of `Features`."""
    arrays = {}
    for tensor in inputs:
        what = f"input {tensor.name!r}"
        if tensor.datatype not in DATATYPES:
            raise bad_request(f"{what}: datatype {tensor.datatype!r} is not in {list(DATATYPES)}")
        array = as_array(tensor.data, DATATYPES[tensor.datatype], what)
        if min(tensor.shape, default=0) < 0 or math.prod(tensor.shape) != array.size:
            raise bad_request(f"{what}: shape {tensor.shape} does not fit {array.size} values")
        arrays[tensor.name] = array.reshape(tensor.shape)
    if len(arrays) < len(inputs):
        raise bad_request("two inputs have the same name")
    first = next(iter(arrays.values()))
    if len(arrays) == 1 and first.ndim == 2 and first.shape[1] == WIDTH:
        return first.astype(np.float64)
    if unknown := sorted(arrays.keys() - {name for name, _ in FIELDS}):
        raise bad_request(
            f"unknown input {unknown[0]!r}: send one [N, {WIDTH}] input, or one input per feature"
        )
    columns = []
    for name, _ in FIELDS:
        if (column := arrays.get(name)) is None:
            raise bad_request(f"missing input {name!r}")
        if column.ndim not in (1, 2) or column.size != len(column):
            raise bad_request(f"input {name!r}: shape {list(column.shape)} is not [N] or [N, 1]")
        columns.append(column.reshape(-1))
    if len({len(column) for column in columns}) > 1:
        raise bad_request("the inputs have different numbers of rows")
    return np.column_stack(columns).astype(np.float64)


@router.get("")
async def server_metadata(settings: SettingsDep) -> dict[str, Any]:
    version = importlib.metadata.version("{{ cookiecutter.project_slug }}")
    return {"name": settings.model_name, "version": version, "extensions": []}


@router.get("/health/live")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def server_ready(_: ModelDep) -> dict[str, bool]:
    return {"ready": True}


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def model_metadata(model: NamedModelDep, settings: SettingsDep) -> ModelMetadataResponse:
    """The model's inputs, derived from the feature schema saved with it, and its outputs."""
    features = model.metadata.features
    return ModelMetadataResponse(
        name=settings.model_name,
        versions=[model.metadata.version],
        platform=model.metadata.framework,
        inputs=[Tensor(name=f.name, datatype=FEATURE_TYPES[f.type], shape=[-1]) for f in features],
        outputs=output_tensors(model),
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
    batcher: BatcherDep,
    metrics: MetricsDep,
) -> InferenceResponse:
    """Predict the rows of the request's inputs: class labels and, for a classifier, each
    class's probability."""
    available = {tensor.name: tensor for tensor in output_tensors(model)}
    wanted = [output.name for output in body.outputs or []] or list(available)
    if unknown := [name for name in wanted if name not in available]:
        raise bad_request(f"unknown output {unknown[0]!r}: the model gives {list(available)}")
    x = check_rows(to_matrix(body.inputs), settings.max_rows)
    result = await predict_matrix(x, model, settings, batcher, metrics)
    classes, rows = model.metadata.classes or [], len(x)
    data = {
        "predictions": result.outputs,
        "probabilities": [row[c] for row in result.probabilities or [] for c in classes],
    }
    return InferenceResponse(
        model_name=settings.model_name,
        model_version=model.metadata.version,
        id=body.id or structlog.contextvars.get_contextvars().get("request_id", ""),
        outputs=[
            OutputTensor(
                name=name,
                datatype=available[name].datatype,
                shape=[rows, *available[name].shape[1:]],
                data=data[name],
            )
            for name in wanted
        ],
    )
