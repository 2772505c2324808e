"""structlog, configured once: the service's lines straight to stdout (WriteLoggerFactory), the
stdlib's (uvicorn, gunicorn, libraries) through the same processors (ProcessorFormatter)."""

import logging
import os
import sys
from typing import Literal

import structlog
from gunicorn.config import Config
from gunicorn.glogging import Logger
from structlog.typing import EventDict, Processor, WrappedLogger

from ..settings import read_settings

LogFormat = Literal["auto", "json", "console"]

# Each line reaches the root handler once; the middleware logs access, with the request id.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")
SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")


def add_pid(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Tell apart the lines of gunicorn's master and of each worker process."""
    event_dict["pid"] = os.getpid()
    return event_dict


def configure_logging(level: str = "info", log_format: LogFormat = "auto") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,  # the request id, bound per request
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_pid,
    ]
    if log_format == "console" or (log_format == "auto" and sys.stdout.isatty()):
        renderer: list[Processor] = [structlog.dev.ConsoleRenderer()]
    else:
        # Tracebacks as structured data, without local variables: they may hold request data.
        renderer = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    structlog.configure(
        processors=[*shared, *renderer],
        logger_factory=structlog.WriteLoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
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
    """gunicorn's `logger_class`, in the service's format (uvicorn's worker copies its handlers)."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        settings = read_settings()
        configure_logging(settings.log_level, settings.log_format)
        self.error_log.handlers = list(logging.getLogger().handlers)
        self.error_log.propagate = False
        self.access_log.handlers = []
        self.access_log.propagate = False
