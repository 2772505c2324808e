"""structlog, configured once: every line, the service's and the server's, goes one way.

The stdlib loggers of uvicorn (and of anything else) are routed through the same processors as
structlog's own, so in production every line is one JSON object.
"""

import json
import logging
import os
import sys
from typing import Literal

import structlog
from gunicorn.config import Config
from gunicorn.glogging import Logger
from pydantic_core import PydanticSerializationError, to_json
from structlog.typing import EventDict, Processor, WrappedLogger

from .request_id import current_request_id
from .settings import Settings

LogFormat = Literal["auto", "json", "console"]

# Loggers that servers set up with handlers of their own; theirs are removed so that each line
# reaches the root handler once, in our format.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")
# ObservabilityMiddleware writes the one access line per request, with the request id.
SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write each line to sys.stdout as it is at that moment, even if it was replaced."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def add_pid(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Tell apart the lines of gunicorn's master and of each worker process."""
    event_dict["pid"] = os.getpid()
    return event_dict


def add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The id of the request being served, on every line logged while serving it."""
    request_id = current_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def render_json(event_dict: EventDict, **_: object) -> str:
    """One JSON object per line, in about a fifth of the time the standard library's encoder takes.

    Datetimes, UUIDs and paths are written as strings, any other value that JSON has no type
    for as its repr. A line that pydantic-core cannot write (bytes that are not UTF-8, say) is
    written by the standard library's encoder, which falls back to the repr of such values.
    """
    try:
        return to_json(event_dict, fallback=repr).decode()
    except PydanticSerializationError:
        return json.dumps(event_dict, default=repr)


def use_console(log_format: LogFormat) -> bool:
    return log_format == "console" or (log_format == "auto" and sys.stdout.isatty())


class StdoutLogger:
    """structlog's output: each line to sys.stdout as it is at that moment, flushed at once.

    The service's own lines take this short path; the standard library's logging machinery
    (a record, a handler, a formatter per line) costs several times more per line, which
    matters for the access line of every request. Lines of other libraries still go through
    logging, with the same processors.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    debug = info = warning = error = critical = exception = msg


def add_logger_name(logger: WrappedLogger, _: str, event_dict: EventDict) -> EventDict:
    event_dict["logger"] = logger.name
    return event_dict


def configure_logging(level: str = "info", log_format: LogFormat = "auto") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_pid,
    ]
    if use_console(log_format):
        renderer: list[Processor] = [structlog.dev.ConsoleRenderer()]
    else:
        # Tracebacks as structured data, without local variables: they may hold request data.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = [tracebacks, structlog.processors.JSONRenderer(serializer=render_json)]

    structlog.configure(
        processors=[*shared, add_logger_name, *renderer],
        logger_factory=StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        cache_logger_on_first_use=True,
    )
    handler = StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.disabled = name in SILENCED_LOGGERS


class GunicornLogger(Logger):
    """gunicorn's logger, writing the master's and the workers' lines in the service's format.

    Selected by `logger_class` in gunicorn.conf.py. The uvicorn worker copies the handlers of
    gunicorn's error log onto uvicorn's logger, so they are set to the service's handler.
    """

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
        self.error_log.handlers = list(logging.getLogger().handlers)
        self.error_log.propagate = False
        self.access_log.handlers = []
        self.access_log.propagate = False
