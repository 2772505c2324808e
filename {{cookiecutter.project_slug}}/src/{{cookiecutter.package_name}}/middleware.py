"""The service's one middleware, pure ASGI (BaseHTTPMiddleware would cost a task per request)."""

import asyncio
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import unexpected_error_response, worker_stopping_response
from .metrics import HttpMetrics
from .request_id import HEADER, start_request

log = structlog.get_logger("access")

REQUEST_ID_HEADER = HEADER.lower().encode("latin-1")
# The route of a request that matched none, so that unknown paths add no series of their own.
NO_ROUTE = "none"
# The methods HTTP defines; any other is labelled OTHER_METHOD in the metrics, so that a client
# cannot add series by inventing methods.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
OTHER_METHOD = "other"
# Not counted in the HTTP metrics, nor in flight: Prometheus's own scrapes. (The service has no
# root path, so a request's path is its route's template.)
UNMEASURED_PATHS = frozenset({"/metrics"})


class ObservabilityMiddleware:
    """Everything recorded about each HTTP request, in one pass.

    - A request id: the client's X-Request-ID when it is safe to echo, else a new one. Every
      log line of the request carries it (logs.add_request_id), and so does the response's
      header.
    - The HTTP metrics (see metrics.HttpMetrics), by route template.
    - One access line when the request ends.

    One layer rather than one per concern: each layer wraps `send` and looks through the
    request again. As separate layers (asgi-correlation-id, the instrumentator's middleware, an
    access logger, an in-flight gauge) they measured about 110 us per request, more than the
    sample model takes to predict one row; as one, about 25 us.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()
        client_id = next(
            (value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), None
        )
        request_id = start_request(client_id.decode("latin-1") if client_id else None)
        id_header = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status: int | None = None  # until the response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        # Scrapes are left out; in flight, the gauge would never show 0.
        measured = scope["path"] not in UNMEASURED_PATHS
        if measured:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # uvicorn cancels the requests still running when a stopping worker's time is up
            # (worker.py). Answered here, the client gets a 503 it can retry, rather than the
            # server's plain-text 500, and the log no traceback.
            if status is not None:
                raise
            await worker_stopping_response()(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here and logged once: raised further, Starlette's outermost middleware
            # would answer it, and the server log the same traceback a second time.
            if status is not None:
                raise
            await unexpected_error_response(exc)(scope, receive, send_with_id)
        finally:
            # None if not even an error could be answered: the server then sends its own 500.
            status = status or 500
            seconds = time.perf_counter() - start
            if measured:
                self.metrics.in_flight.dec()
                method = scope["method"]
                if method not in KNOWN_METHODS:
                    method = OTHER_METHOD
                self.metrics.observe(route_template(scope), method, status, seconds)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )


def route_template(scope: Scope) -> str:
    """The path template of the route that matched the request, or NO_ROUTE."""
    # FastAPI's routes put themselves in the scope when they match.
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    # Starlette's own routes (the docs pages) put only their endpoint there.
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for candidate in scope["app"].router.routes:
            if getattr(candidate, "endpoint", None) is endpoint:
                return str(candidate.path)
    return NO_ROUTE
