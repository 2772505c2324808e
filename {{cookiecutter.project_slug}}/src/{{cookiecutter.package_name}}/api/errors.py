"""Every error the service returns, in one shape: {"detail", "errors": [{"field", "message"}],
"request_id"}. Unexpected errors are answered by observability/middleware.py."""

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import structlog
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..serving.loader import ModelNotReadyError
from ..serving.metadata import clip

# A small request can hold a great many problems, or very long names: the answer stays small.
MAX_ERRORS = 50
MAX_TEXT = 200
# Recorded (access line, metrics) for a client that left before its body was read: nginx's.
CLIENT_CLOSED_REQUEST = 499


class FieldError(HTTPException):
    """An HTTPException that names what was wrong: a header, "body", a field of the body."""

    def __init__(
        self, status_code: int, detail: str, field: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.field = field


def error_response(
    status_code: int,
    detail: str,
    errors: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    if len(errors) > MAX_ERRORS:
        detail = f"{detail}: {len(errors)} problems, the first {MAX_ERRORS} listed"
    body = {
        "detail": clip(detail, MAX_TEXT),
        "errors": [
            {"field": clip(error["field"], MAX_TEXT), "message": clip(error["message"], MAX_TEXT)}
            for error in errors[:MAX_ERRORS]
        ],
        "request_id": structlog.contextvars.get_contextvars().get("request_id"),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


def field_name(loc: Sequence[int | str]) -> str:
    """("body", "instances", 0, "x") -> "instances[0].x"; the whole body is "body"."""
    name = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


async def handle_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems: Sequence[Any] = exc.errors()
    if invalid_json := [problem for problem in problems if problem["type"] == "json_invalid"]:
        problem = {"field": "body", "message": invalid_json[0]["msg"]}
        return error_response(400, "the request body is not valid JSON", [problem])
    errors = [{"field": field_name(p["loc"]), "message": p["msg"]} for p in problems]
    return error_response(422, "the request is not valid", errors)


async def handle_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    field = getattr(exc, "field", None)
    errors = [{"field": field, "message": exc.detail}] if field else []
    return error_response(exc.status_code, exc.detail, errors, headers=exc.headers)


async def handle_not_ready(_: Request, exc: ModelNotReadyError) -> JSONResponse:
    return error_response(503, str(exc) or "the model is not loaded yet")


async def handle_client_disconnect(_: Request, __: ClientDisconnect) -> Response:
    return Response(status_code=CLIENT_CLOSED_REQUEST)


# For FastAPI(exception_handlers=...): each takes the exception type it is registered for.
Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    RequestValidationError: handle_validation_error,
    StarletteHTTPException: handle_http_error,
    ModelNotReadyError: handle_not_ready,
    ClientDisconnect: handle_client_disconnect,
}
