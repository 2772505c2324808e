"""Micro-batching, opt-in (BATCH_MAX_ROWS): concurrent small requests share one model call.

A tree model's predict call costs nearly as much for one row as for dozens. Requests read in the
same turn of the event loop queue here, and one call predicts all their rows; each caller gets
its own slice back. A lone client's request is predicted in the turn it arrived: nothing waits.
Delete this module, and the lines that use it in app.py, api/deps.py and api/routes.py, to
remove it.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from starlette.concurrency import run_in_threadpool

from .loader import ModelNotReadyError
from .prediction import Matrix, Predictions

# Rounds of the event loop without a new request after which a gathering batch is predicted.
# Bytes read from a socket reach this queue two rounds later (one to read them and start the
# request's task, one to run it), on asyncio's loop and on uvloop alike; the third is a margin.
QUIET_ROUNDS = 3

PredictFn = Callable[[Matrix], Predictions]


@dataclass
class _Request:
    x: Matrix
    future: asyncio.Future[Predictions] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MicroBatcher:
    """Queue requests and predict together those that arrive in the same turn of the loop.

    The first request queued starts a flush, which runs once every request already read is
    queued: up to `max_rows` rows per model call. Under steady concurrent load that splits the
    clients into two halves that alternate; so with `max_wait` above zero, a flush after a batch
    of several requests first lets the loop go round while each round brings more rows, for at
    most `max_wait` seconds (docs/benchmarks.md: twice the rows per call with 32 clients).
    Batches of up to `inline_max_rows` rows are predicted on the event loop, larger ones in a
    thread. `observe_call` gets the seconds of each model call that succeeded.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_rows: int,
        max_wait: float,
        inline_max_rows: int,
        observe_call: Callable[[float], None] | None = None,
    ) -> None:
        self._predict = predict
        self._observe_call = observe_call
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._inline_max_rows = inline_max_rows
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._flush: asyncio.Task[None] | None = None
        self._closing = False
        self._last_batch_requests = 0

    async def predict(self, x: Matrix) -> Predictions:
        if self._closing:
            raise ModelNotReadyError("the service is shutting down")
        request = _Request(x)
        self._queue.append(request)
        self._queued_rows += len(x)
        if self._flush is None:
            # A task's first step runs after every callback already scheduled in this turn.
            self._flush = asyncio.create_task(self._run_flush(), name="micro-batch")
        return await request.future

    async def close(self) -> None:
        """Predict everything already queued, then refuse new requests."""
        self._closing = True
        if self._flush is not None:
            # Shielded: cancelling the close (a shutdown's timeout) must not cancel the
            # predictions that queued requests still wait for.
            await asyncio.shield(self._flush)

    async def _run_flush(self) -> None:
        batch: list[_Request] = []
        try:
            if self._max_wait > 0 and self._last_batch_requests > 1:
                await self._gather()
            while self._queue:
                batch = self._take_batch()
                await self._predict_batch(batch)
        except BaseException:
            # Cancelled, or worse: no request may wait for an answer that will never come.
            stopped = ModelNotReadyError("the service stopped before it could predict")
            for request in [*batch, *self._queue]:
                if not request.future.done():
                    request.future.set_exception(stopped)
            self._queue.clear()
            self._queued_rows = 0
            raise
        finally:
            self._flush = None

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        quiet = 0
        while quiet < QUIET_ROUNDS and self._queued_rows < self._max_rows and not self._closing:
            if loop.time() >= deadline:
                return
            queued = self._queued_rows
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._queued_rows == queued else 0

    def _take_batch(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].x)
        while self._queue and rows + len(self._queue[0].x) <= self._max_rows:
            rows += len(self._queue[0].x)
            batch.append(self._queue.popleft())
        self._queued_rows -= rows
        return batch

    async def _call_model(self, x: Matrix) -> Predictions:
        start = time.perf_counter()
        if len(x) <= self._inline_max_rows:
            predictions = self._predict(x)
        else:
            predictions = await run_in_threadpool(self._predict, x)
        if self._observe_call is not None:
            self._observe_call(time.perf_counter() - start)
        return predictions

    async def _predict_batch(self, batch: list[_Request]) -> None:
        self._last_batch_requests = len(batch)
        x = batch[0].x if len(batch) == 1 else np.concatenate([request.x for request in batch])
        try:
            predictions = await self._call_model(x)
            parts = predictions.split([len(request.x) for request in batch])
        except Exception:
            # One request's rows broke the model call: predict each request on its own, so
            # that only that request fails and its neighbours still get their answers.
            for request in batch:
                await self._predict_alone(request)
            return
        for request, part in zip(batch, parts, strict=True):
            if not request.future.done():  # its client may have gone away
                request.future.set_result(part)

    async def _predict_alone(self, request: _Request) -> None:
        try:
            predictions = await self._call_model(request.x)
            predictions.check_count(len(request.x))
        except Exception as error:
            if not request.future.done():
                request.future.set_exception(error)
        else:
            if not request.future.done():
                request.future.set_result(predictions)
