"""The gunicorn worker: uvicorn's, stopping without losing or hanging on a connection.

- **Idle keep-alive connections are drained.** When a worker stops (SIGTERM during a rollout, a
  reload, MAX_REQUESTS), uvicorn closes every idle keep-alive connection at once. A client that is
  sending its next request on one at that moment loses it: the connection is reset, and HTTP
  clients do not retry a POST on their own. Here an idle connection stays open DRAIN_SECONDS
  longer. A request that arrives on it meanwhile is answered with `Connection: close`, so that
  the client opens its next connection to a worker that is not stopping; a connection still idle
  after that is closed.
- **Stopping takes a bounded time.** uvicorn waits for every request in flight, however long: a
  client that stalls halfway through its body would hold the worker until gunicorn kills it
  (after GRACEFUL_TIMEOUT on SIGTERM, or after WORKER_TIMEOUT when MAX_REQUESTS restarts it, with
  no other worker serving meanwhile when there is one). Here the wait ends a second before
  GRACEFUL_TIMEOUT, and the worker exits by itself.
- **A client that leaves while its pipelined requests are answered** stops their writes quietly.
  uvicorn marks only the last request read as disconnected, so the one being written went on
  writing to the closed connection and failed with a traceback.
- **No false error at each stop.** uvloop closes a listening socket itself, then closes the
  object it was given; given gunicorn's wrapper rather than the socket, that second close failed
  and gunicorn logged "Error while closing socket [Errno 9]" every time a worker stopped.
"""

from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn_worker import UvicornWorker

# Long enough for a client that sends a request every second to be told to leave; the worker's
# shutdown waits this long at most when a connection is idle (Prometheus keeps one open).
DRAIN_SECONDS = 1.0


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), draining its connection at shutdown."""

    draining = False
    running: RequestResponseCycle | None = None

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

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self.running = cycle
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.running is not None and not self.running.response_complete:
            self.running.disconnected = True
        super().connection_lost(exc)

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no type hints
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": DrainingHttpToolsProtocol}
    sockets: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Then uvicorn cancels the requests still running, and the app's own shutdown gets the
        # last second before gunicorn's SIGKILL.
        self.config.timeout_graceful_shutdown = max(self.cfg.graceful_timeout - 1, 1)

    def run(self) -> None:
        # The sockets themselves, not gunicorn's wrappers: uvloop then detaches each one from
        # its file descriptor when it closes it, instead of closing it a second time. Here
        # rather than in __init__: with reuse_port, gunicorn gives the forked worker new ones.
        self.sockets = [getattr(listener, "sock", listener) for listener in self.sockets]
        super().run()
