"""The application factory: `create_app()` builds a service; nothing happens at import time."""

import gc
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry

from .batching import MicroBatcher
from .errors import add_error_handlers
from .loader import ModelLoadError, load_model
from .logs import configure_logging
from .metrics import HttpMetrics, ModelMetrics, ProcessMetrics, expose, multiprocess_mode
from .middleware import ObservabilityMiddleware
from .payload import FAST_DECODE, NO_FAST_DECODE_BECAUSE
from .routes import add_routes
from .schemas import ErrorResponse, PredictRequest
from .settings import Settings
from .state import ServiceState

log = structlog.get_logger(__name__)
COMPONENTS = "#/components/schemas/"
# Allocations between two young garbage collections while serving (Python's default is 700).
YOUNG_COLLECTION_ALLOCATIONS = 7000


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    # One registry per app, so that tests can build many apps in one process.
    registry = CollectorRegistry()
    state = ServiceState(settings=settings, metrics=ModelMetrics(registry))
    process_metrics = ProcessMetrics(registry, multiprocess=multiprocess_mode())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Started first, so that a worker's process series exist from its boot on.
        async with process_metrics.refreshing():
            load()
            with settled_heap():
                yield
            if state.batcher is not None:
                await state.batcher.close()  # answers every request still queued
            state.model = None

    def load() -> None:
        start = time.perf_counter()
        try:
            model = load_model(settings.model_path, threads=settings.model_threads)
        except ModelLoadError as error:
            # One clear line; the server then exits non-zero because the error propagates.
            log.error("model_load_failed", path=str(error.path), error=error.cause)
            raise
        state.metrics.set_model(
            settings.model_name, model.metadata.version, model.metadata.framework
        )
        if settings.batch_max_rows > 0:
            state.batcher = MicroBatcher(
                model.predictor.predict,
                max_rows=settings.batch_max_rows,
                max_wait=settings.batch_max_wait_ms / 1000,
                inline_max_rows=settings.inline_predict_max_rows,
                observe_call=state.metrics.observe_call,
            )
        state.model = model
        log.info(
            "model_loaded",
            path=str(settings.model_path),
            version=model.metadata.version,
            framework=model.metadata.framework,
            seconds=round(time.perf_counter() - start, 3),
            # Whether valid bodies take the fast path (fast_decode.py), and if not, why not.
            fast_decode="on" if FAST_DECODE is not None else f"off: {NO_FAST_DECODE_BECAUSE}",
        )

    app = FastAPI(
        title=settings.model_name,
        description=f"Predictions from the {settings.model_name} model.",
        lifespan=lifespan,
        responses={
            500: {"model": ErrorResponse, "description": "An unexpected error (see the log)."}
        },
        # A path with a trailing slash is a 404, not a redirect to a URL built from the
        # request's Host header (which, behind a proxy, is not the address clients use).
        redirect_slashes=False,
    )
    app.state.service = state
    add_routes(app.router)
    add_error_handlers(app)
    expose(app, registry)
    app.add_middleware(ObservabilityMiddleware, metrics=HttpMetrics(registry))
    document_predict_request(app, state)
    return app


@contextmanager
def settled_heap() -> Iterator[None]:
    """Keep the garbage collector off what startup built (the libraries and the model) meanwhile.

    A full collection walks every object it tracks, and under concurrent requests, whose objects
    outlive young collections, full collections come often: with 32 requests in flight and
    micro-batching on, they took nearly half of the CPU in a measurement. Frozen, the objects
    allocated so far are never walked again, and young collections run every 7,000 allocations
    instead of 700, so that fewer of a request's short-lived objects get promoted.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def document_predict_request(app: FastAPI, state: ServiceState) -> None:
    """Describe the body of POST /predict in the OpenAPI document, with a real example.

    The route parses its body itself (see payload.read_instances), so FastAPI cannot see its
    schema. The example, a row of training medians, comes from the model's metadata: it exists
    once the model is loaded, and the document is cached from then on.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        body_schema = PredictRequest.model_json_schema(ref_template=COMPONENTS + "{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body_schema.pop("$defs", {}))
        # The limit is a setting, so the class cannot say it.
        body_schema["properties"]["instances"]["maxItems"] = state.settings.max_rows
        components["PredictRequest"] = body_schema
        media: dict[str, Any] = {"schema": {"$ref": f"{COMPONENTS}PredictRequest"}}
        schema["paths"]["/predict"]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": media},
        }
        if state.model is None:
            return schema
        media["examples"] = {
            "median": {
                "summary": "One row of training medians",
                "value": {"instances": [state.model.metadata.example_row()]},
            }
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
