"""Service settings, read from `.env` and environment variables named with the `env_prefix`."""

import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]


class Settings(BaseSettings):
    """Every setting of the service; `.env.example` lists each one as its environment variable."""

    model_config = SettingsConfigDict(
        env_prefix="{{ cookiecutter.env_prefix }}",
        env_file=".env",
        extra="ignore",
        validate_default=True,
        use_attribute_docstrings=True,  # each field's docstring is its description
    )

    model_path: Path = Path("{{ cookiecutter._model_file[cookiecutter.model_framework] }}")
    """Model file to serve; its metadata file lies beside it."""
    model_name: str = Field(default="{{ cookiecutter.project_slug }}", min_length=1)
    """Name the service reports for its model."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port to listen on."""
    openapi_docs: bool = True
    """Serve /openapi.json, /docs and /redoc (off in the Kubernetes base, on in dev)."""
    protocol_routes: bool = True
    """Serve the KServe V1 and Open Inference Protocol (V2) routes beside /predict."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level of log lines to print."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """json, console, or auto: console on a terminal, json otherwise."""
    max_rows: int = Field(default=500, ge=1)
    """Most rows one request may carry; that many must fit in max_body_bytes."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted, in bytes."""
    model_threads: Positive = 1
    """Threads the model may use for one prediction, per worker process."""
    worker_timeout: Positive = 120
    """gunicorn: seconds a worker may go silent before it is restarted (loading counts)."""
    graceful_timeout: Positive = 30
    """gunicorn: seconds that in-flight requests get to finish after SIGTERM."""
    max_requests: Count = 0
    """gunicorn: restart a worker after this many requests; 0 never does."""
    max_requests_jitter: Count = 0
    """gunicorn: up to this many more requests before that restart, at random."""
    batch_max_rows: Count = 0
    """Micro-batching: most rows per model call shared by concurrent requests; 0 turns it off."""
    batch_max_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    """Micro-batching: how long at most a batch keeps taking requests under load."""
    inline_predict_max_rows: Count = 100
    """Requests of at most this many rows are predicted on the event loop, larger in a thread."""
    drift_features: Count = 10
    """Drift: count the model's first this many features, and its predictions, in training bins."""
    payload_log_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of predict requests logged with their rows and predictions; 0 logs none."""
    payload_log_redact: str = ""
    """Features, comma-separated, whose values the payload log replaces with "[redacted]"."""


def read_settings() -> Settings:
    """The settings for an entry point; or, when any is invalid, a line naming each one's
    variable (a traceback would name the field alone), and exit 2."""
    try:
        return Settings()
    except ValidationError as error:
        prefix = Settings.model_config.get("env_prefix", "")
        for problem in error.errors(include_url=False):
            variable = prefix + "_".join(str(part) for part in problem["loc"]).upper()
            value = problem["input"]
            print(f"invalid setting {variable}={value!r}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
