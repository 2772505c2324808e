"""What the inference protocols (v1.py: KServe V1, v2.py: Open Inference Protocol) share: their
error body, the model the path names, the body, and positional rows checked as Features checks."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from annotated_types import Ge, Le
from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.types import AllowInfNan
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..api.body import read_body
from ..api.deps import ModelDep, SettingsDep
from ..api.errors import field_name
from ..predictor import Features
from ..serving.loader import LoadedModel, ModelNotReadyError
from ..serving.metadata import clip
from ..serving.prediction import Matrix

FIELDS = list(Features.model_fields.items())
# A row as a tuple of Features' types and constraints; lax, since a tensor's 3.0 is a valid int.
ROWS: TypeAdapter[list[tuple[Any, ...]]] = TypeAdapter(
    list[tuple[tuple(field.rebuild_annotation() for _, field in FIELDS)]]  # type: ignore[arg-type, misc]
)


class ProtocolRoute(APIRoute):
    """A route whose errors are `{"error": "..."}`, with the status that the service gives them
    elsewhere (FastAPI's "Custom Request and APIRoute class" pattern)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except StarletteHTTPException as error:
                body, status, headers = (
                    {"error": clip(error.detail)},
                    error.status_code,
                    error.headers,
                )
                return JSONResponse(body, status, headers)
            except ModelNotReadyError as error:
                return JSONResponse({"error": str(error) or "the model is not loaded yet"}, 503)

        return handle


def bad(message: str) -> HTTPException:
    """A 400: a bad request, in the protocols' words."""
    return HTTPException(400, message)


async def get_named_model(
    name: str, request: Request, settings: SettingsDep, model: ModelDep
) -> LoadedModel:
    """The model the path names, and its version if it names one; else a 404."""
    if name != settings.model_name:
        raise HTTPException(404, f"unknown model {clip(name)!r}; this is {settings.model_name!r}")
    version = request.path_params.get("version")
    if version is not None and version != model.metadata.version:
        raise HTTPException(404, f"unknown version {clip(version)!r} of model {name!r}")
    return model


NamedModelDep = Annotated[LoadedModel, Depends(get_named_model)]


def json_body(schema: type[BaseModel]) -> Any:
    """A dependency that reads the body within its size limit and validates it in one pass, as
    body.py does for /predict."""

    async def read(request: Request, settings: SettingsDep) -> BaseModel:
        try:
            return schema.model_validate_json(await read_body(request, settings.max_body_bytes))
        except ValidationError as error:
            problem = error.errors(include_url=False)[0]
            raise bad(f"{field_name(problem['loc'])}: {problem['msg']}") from None

    return Depends(read)


def as_array(data: list[Any], kinds: str, what: str) -> npt.NDArray[Any]:
    """`data` as an array of one of the numpy dtype `kinds` ("f", "i", "u", "b"), or a 400."""
    try:
        array = np.asarray(data)
    except ValueError:
        array = np.asarray(None)  # rows of different lengths
    if array.dtype.kind not in kinds:
        wanted = "true or false" if kinds == "b" else "numbers" if "f" in kinds else "integers"
        raise bad(f"{what}: the values must be {wanted}, in rows of one length")
    return array


def bounds() -> tuple[Matrix, Matrix, npt.NDArray[np.bool_]] | None:
    """Each column's bounds, and which hold ints, when Features' fields have no other constraint."""
    low, high = np.full(len(FIELDS), -np.inf), np.full(len(FIELDS), np.inf)
    for column, (_, field) in enumerate(FIELDS):
        for rule in field.metadata:
            if isinstance(rule, Ge):
                low[column] = rule.ge
            elif isinstance(rule, Le):
                high[column] = rule.le
            elif not isinstance(rule, AllowInfNan):
                return None
    return low, high, np.array([field.annotation is int for _, field in FIELDS])


BOUNDS = bounds()


def check_rows(x: Matrix, max_rows: int) -> Matrix:
    """`x`, or a 400 naming the first value that Features' fields refuse. A matrix within the
    bounds passes in one vectorized check, never parsed by name; any other goes to pydantic."""
    if not 0 < len(x) <= max_rows:
        raise bad(f"from 1 to {max_rows} rows per request, got {len(x)}")
    if BOUNDS is not None:
        low, high, ints = BOUNDS
        whole = x[:, ints]
        if (
            np.isfinite(x).all()
            and (low <= x).all()
            and (x <= high).all()
            and (whole == np.round(whole)).all()
        ):
            return x
    try:
        ROWS.validate_python(x.tolist())
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        row, column = problem["loc"][:2]
        raise bad(f"row {row}, {FIELDS[int(column)][0]}: {problem['msg']}") from None
    return x
