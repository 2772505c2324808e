"""Service settings, read from `{{ cookiecutter.env_prefix }}*` environment variables and `.env`."""

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service; `.env.example` lists each one as its environment variable."""

    model_config = SettingsConfigDict(
        env_prefix="{{ cookiecutter.env_prefix }}",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    model_path: Path = Field(
        default=Path("{{ cookiecutter._model_file[cookiecutter.model_framework] }}"),
        description="Model file to serve; its metadata file lies beside it.",
    )
    model_name: str = Field(
        default="{{ cookiecutter.project_slug }}",
        min_length=1,
        description="Name the service reports for its model.",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    openapi_docs: bool = Field(
        default=True,
        description="Serve the OpenAPI document (/openapi.json) and the interactive docs "
        "(/docs, /redoc); the Kubernetes overlays turn them off.",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level of log lines to print."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json: one JSON object per line; console: coloured text; "
        "auto: console on a terminal, json otherwise.",
    )
    max_rows: int = Field(
        default=500,
        ge=1,
        description="Most rows one request may carry; that many must fit in max_body_bytes.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted, in bytes."
    )
    model_threads: int = Field(
        default=1,
        ge=1,
        description="Threads the model may use for one prediction, per worker process.",
    )
    worker_timeout: int = Field(
        default=120,
        ge=1,
        description="Seconds a gunicorn worker may go silent before it is restarted; "
        "loading the model counts, so this must exceed the model's load time.",
    )
    graceful_timeout: int = Field(
        default=30,
        ge=1,
        description="Seconds that in-flight requests get to finish after SIGTERM.",
    )
    max_requests: int = Field(
        default=0,
        ge=0,
        description="Restart a gunicorn worker after this many requests; 0 never does.",
    )
    max_requests_jitter: int = Field(
        default=0,
        ge=0,
        description="Up to this many extra requests before that restart, at random, so that "
        "workers do not restart together.",
    )
    batch_max_rows: int = Field(
        default=0,
        ge=0,
        description="Micro-batching: predict concurrent requests of fewer rows together, at most "
        "this many rows per model call; 0 turns it off.",
    )
    batch_max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="Micro-batching: under concurrent load, a batch keeps taking new requests "
        "while each turn of the event loop brings more, for at most this long; 0 predicts at "
        "once what arrived in the same turn.",
    )
    inline_predict_max_rows: int = Field(
        default=100,
        ge=0,
        description="Requests (and micro-batches) with at most this many rows are predicted on "
        "the event loop; larger ones in a worker thread.",
    )


def read_settings() -> Settings:
    """The settings; or, when any is invalid, one line for each naming its variable, and exit 2.

    For the entry points (`python -m`, gunicorn.conf.py, the health check): a person or a
    deployment reads these lines, rather than a traceback that names the field alone.
    """
    try:
        return Settings()
    except ValidationError as error:
        prefix = Settings.model_config.get("env_prefix", "")
        for problem in error.errors(include_url=False):
            variable = prefix + "_".join(str(part) for part in problem["loc"]).upper()
            value = problem["input"]
            print(f"invalid setting {variable}={value!r}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
