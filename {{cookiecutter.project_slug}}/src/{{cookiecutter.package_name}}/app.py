"""The application factory: `create_app()` builds a service; nothing happens at import time."""

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, params
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry

from .api.errors import EXCEPTION_HANDLERS
from .api.routes import COMPONENTS, router
from .api.schemas import ErrorResponse, PredictRequest
from .monitoring.monitor import Monitor
from .observability.logs import configure_logging
from .observability.metrics import ModelMetrics, ProcessMetrics, instrument
from .observability.middleware import RequestContextMiddleware
from .protocols import explain, v1, v2
from .serving.batching import MicroBatcher
from .serving.loader import ModelLoadError, load_model
from .settings import Settings


def create_app(
    settings: Settings | None = None, dependencies: Sequence[params.Depends] = ()
) -> FastAPI:
    """The service; `dependencies` run before every route, e.g. `[Depends(check_api_key)]`."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger().bind(logger=__name__)
    registry = CollectorRegistry()  # one per app, so that tests can build many in one process
    model_metrics = ModelMetrics(registry)
    process_metrics = ProcessMetrics(registry)
    monitor = Monitor(settings, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = time.perf_counter()
        try:
            model = load_model(settings.model_path, threads=settings.model_threads)
        except ModelLoadError as error:
            # One clear line; the error propagates and the server exits non-zero.
            log.error("model_load_failed", path=str(error.path), error=error.cause)
            raise
        model_metrics.set_model(settings.model_name, model.metadata)
        monitor.set_model(model.metadata)
        if settings.batch_max_rows > 0:
            app.state.batcher = MicroBatcher(
                model.predictor.predict,
                max_rows=settings.batch_max_rows,
                max_wait=settings.batch_max_wait_ms / 1000,
                inline_max_rows=settings.inline_predict_max_rows,
                observe_call=model_metrics.observe_call,
            )
        app.state.model = model
        log.info(
            "model_loaded",
            path=str(settings.model_path),
            version=model.metadata.version,
            seconds=round(time.perf_counter() - start, 3),
        )
        # What startup built lives as long as the process: frozen, full collections skip it.
        gc.collect()
        gc.freeze()
        refresher = asyncio.create_task(process_metrics.refresh_forever())
        yield
        gc.unfreeze()
        refresher.cancel()
        if app.state.batcher is not None:
            await app.state.batcher.close()  # answers every request still queued
        monitor.drift.flush()  # the counts of the last second
        app.state.model = None

    app = FastAPI(
        title=settings.model_name,
        description=f"Predictions from the {settings.model_name} model.",
        lifespan=lifespan,
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,
        responses={500: {"model": ErrorResponse, "description": "An unexpected error."}},
        # No redirect to a URL built from the Host header, wrong behind a proxy: a 404.
        redirect_slashes=False,
        openapi_url="/openapi.json" if settings.openapi_docs else None,  # /docs, /redoc with it
    )
    app.state.settings, app.state.model_metrics = settings, model_metrics
    app.state.monitor = monitor
    app.state.model = app.state.batcher = None  # until the lifespan has loaded the model
    app.include_router(router)
    app.include_router(explain.router)
    if settings.protocol_routes:
        app.include_router(v1.router)
        app.include_router(v2.router)
    in_flight = instrument(app, registry)
    app.add_middleware(RequestContextMiddleware, in_flight=in_flight)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    return app


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the predict body's schemas and example ("Extending OpenAPI")."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    body = PredictRequest.model_json_schema(ref_template=COMPONENTS + "{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(body.pop("$defs", {}))
    body["properties"]["instances"]["maxItems"] = app.state.settings.max_rows
    components["PredictRequest"] = body
    if app.state.model is None:
        return schema
    media = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = {"instances": [app.state.model.metadata.example_row()]}
    media["examples"] = {"median": {"summary": "Training medians", "value": example}}
    app.openapi_schema = schema
    return schema
