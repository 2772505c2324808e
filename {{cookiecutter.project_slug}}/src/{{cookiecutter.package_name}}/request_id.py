"""The id of the request being served: in its log lines, its error bodies and its response."""

import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-ID"

# A client-supplied id is echoed into logs and headers: keep it short and plain.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Set once per request by ObservabilityMiddleware and never reset: each request runs in a task
# of its own, and the handler of an unexpected error, which runs outside the middleware, still
# needs it.
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def start_request(client_value: str | None) -> str:
    """Adopt the client's id when it is safe to echo, else make a new one; return it."""
    if client_value is None or SAFE_REQUEST_ID.fullmatch(client_value) is None:
        client_value = secrets.token_hex(16)
    _request_id.set(client_value)
    return client_value
