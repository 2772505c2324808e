"""Pure ASGI, as Starlette's own middleware are (`@app.middleware("http")` costs a task each
request): the request id, the requests in flight, the access line, the last-resort 500."""

import secrets
import string
import time

import structlog
from prometheus_client import Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.errors import error_response
from .metrics import METRICS_PATH

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is echoed into logs and headers: only when it is short and plain.
SAFE_ID_CHARACTERS = frozenset(string.ascii_letters.encode() + string.digits.encode() + b"._:-")


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-ID when it is safe to echo, else a new id."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and 0 < len(value) <= 128 and set(value) <= SAFE_ID_CHARACTERS:
            return str(value.decode("ascii"))
    return secrets.token_hex(16)


class RequestContextMiddleware:
    """Bind the request id to log lines and send it as X-Request-ID; count requests in flight;
    log the access line; answer an unexpected error with a JSON 500, logged once."""

    def __init__(self, app: ASGIApp, in_flight: Gauge) -> None:
        self.app = app
        self.in_flight = in_flight
        self.log = structlog.get_logger().bind(logger="access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_of(scope)
        # Each request runs in a task of its own, with its own copy of the context.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = None  # until the response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        # Prometheus's own scrapes are not counted in flight: the gauge would never show 0.
        measured = scope["path"] != METRICS_PATH
        if measured:
            self.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status is not None:  # too late for an answer: the server closes the connection
                raise
            self.log.error("unhandled_error", exc_info=exc)
            await error_response(500, "internal server error")(scope, receive, send_with_id)
        finally:
            if measured:
                self.in_flight.dec()
            self.log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status or 500,
                duration_ms=round((time.perf_counter() - start) * 1000, 3),
            )
