"""The gunicorn worker: uvicorn's, with keep-alive connections drained when it stops.

When a worker stops (SIGTERM during a rollout, a reload, MAX_REQUESTS), uvicorn closes every idle
keep-alive connection at once. A client that is sending its next request on one at that moment
loses it: the connection is reset, and HTTP clients do not retry a POST on their own. Here an
idle connection stays open DRAIN_SECONDS longer. A request that arrives on it meanwhile is
answered with `Connection: close`, so that the client opens its next connection to a worker that
is not stopping; a connection still idle after that is closed.
"""

from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

# Long enough for a client that sends a request every second to be told to leave; the worker's
# shutdown waits this long at most when a connection is idle (Prometheus keeps one open).
DRAIN_SECONDS = 1.0


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), draining its connection at shutdown."""

    draining = False

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # mid-request: answered, with Connection: close
            return
        self.draining = True
        self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no type hints
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": DrainingHttpToolsProtocol}
