"""Every error the service returns, mapped to HTTP in this one place.

Each body has the same shape: {"detail": str, "errors": [{"field", "message"}], "request_id"}.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from .request_id import HEADER, current_request_id

log = structlog.get_logger(__name__)

# An error body lists at most MAX_ERRORS problems and cuts every text to MAX_TEXT characters: a
# small request can hold a great many problems (a row with thousands of unknown features) or
# very long names, and the answer must stay small.
MAX_ERRORS = 50
MAX_TEXT = 200

# The status recorded (access line, metrics) for a request whose client left before the service
# had read its body: nginx's "client closed request". No client receives it.
CLIENT_CLOSED_REQUEST = 499


class ServiceError(Exception):
    status_code = 500
    detail = "internal server error"
    headers: Mapping[str, str] | None = None

    def __init__(self, detail: str | None = None, field: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.field = field


class ModelNotReadyError(ServiceError):
    status_code = 503
    detail = "the model is not loaded yet"


class TooManyRowsError(ServiceError):
    status_code = 422


class BodyValidationError(RequestValidationError):
    """The problems of an invalid body: the first MAX_ERRORS of them, and how many in all."""

    def __init__(self, errors: Sequence[Any], total: int) -> None:
        super().__init__(errors)
        self.total = total


class BodyRefusedError(ServiceError):
    """A request refused before the rest of its body is read, which it will never be.

    The connection closes after the answer, rather than the server reading and discarding
    whatever the client still sends.
    """

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail, field=field)
        self.headers = {"Connection": "close"}


class UnsupportedMediaTypeError(BodyRefusedError):
    status_code = 415


class BodyTooLargeError(BodyRefusedError):
    status_code = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the request body is larger than {max_bytes} bytes", field="body")


def error_response(
    status_code: int,
    detail: str,
    errors: Sequence[dict[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    total: int | None = None,
) -> JSONResponse:
    """The error body; `total` counts the problems when `errors` holds only the first ones."""
    total = len(errors) if total is None else total
    if total > MAX_ERRORS:
        detail = f"{detail}: {total} problems, the first {MAX_ERRORS} listed"
    body: dict[str, Any] = {
        "detail": clip(detail),
        "errors": [
            {"field": clip(error["field"]), "message": clip(error["message"])}
            for error in errors[:MAX_ERRORS]
        ],
        "request_id": current_request_id(),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def field_name(loc: Sequence[int | str]) -> str:
    """("body", "instances", 0, "x") -> "instances[0].x"; the whole body is "body"."""
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif name:
            name += f".{part}"
        else:
            name = str(part)
    return name or "body"


async def handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    problems = exc.errors()
    invalid_json = [problem for problem in problems if problem["type"] == "json_invalid"]
    if invalid_json:
        return error_response(
            400,
            "the request body is not valid JSON",
            [{"field": "body", "message": invalid_json[0]["msg"]}],
        )
    errors = [
        {"field": field_name(problem["loc"]), "message": problem["msg"]} for problem in problems
    ]
    total = exc.total if isinstance(exc, BodyValidationError) else None
    return error_response(422, "the request is not valid", errors, total=total)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route with this path; the health
        # routes serve GET and HEAD from two routes, and both are allowed.
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def handle_service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)  # noqa: S101 - registered for this type
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    return error_response(exc.status_code, exc.detail, errors, headers=exc.headers)


async def handle_client_disconnect(_: Request, exc: Exception) -> Response:
    # The client's doing, not a server error: no traceback, and no 5xx in the metrics.
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def unexpected_error_response(
    exc: BaseException, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The 500 for an error nothing expected: its traceback goes to the log, never the client."""
    log.error("unhandled_error", exc_info=exc)
    return error_response(500, "internal server error", headers=headers)


def worker_stopping_response() -> JSONResponse:
    """The answer to a request still running when its stopping worker's time is up (worker.py).

    A 503 on a closing connection: the client can send the request again, to another worker.
    """
    return error_response(
        503, "the server stopped before it could answer: send the request again",
        headers={"Connection": "close"},
    )  # fmt: skip


async def handle_unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    # Errors raised inside ObservabilityMiddleware are answered there (middleware.py); this is
    # for the rest. The response is sent outside the middleware, so it sets the header itself.
    request_id = current_request_id()
    return unexpected_error_response(exc, headers={HEADER: request_id} if request_id else None)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(ClientDisconnect, handle_client_disconnect)
    app.add_exception_handler(Exception, handle_unexpected_error)
