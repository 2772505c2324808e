"""Adaptive micro-batching: many concurrent small requests, one model call.

A tree model's predict call costs nearly as much for one row as for dozens. When requests arrive
while the model is busy, they queue here, and the next model call predicts all of their rows at
once; each caller gets back its own slice. With one client at a time the queue never holds more
than one request, so nothing waits.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from .errors import ModelNotReadyError
from .prediction import Predictions
from .predictor import Features

PredictFn = Callable[[Sequence[Features]], Predictions]


@dataclass
class BatchResult:
    predictions: Predictions
    seconds: float
    """Time the model took for the whole batch this request was part of."""


@dataclass
class _Request:
    rows: Sequence[Features]
    future: asyncio.Future[BatchResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def split(predictions: Predictions, sizes: Sequence[int]) -> list[Predictions]:
    """Cut the predictions of concatenated requests back into one per request."""
    if len(predictions.outputs) != sum(sizes):
        raise ValueError(
            f"the model returned {len(predictions.outputs)} outputs for {sum(sizes)} rows"
        )
    parts = []
    start = 0
    for size in sizes:
        end = start + size
        probabilities = predictions.probabilities
        parts.append(
            Predictions(
                outputs=predictions.outputs[start:end],
                probabilities=None if probabilities is None else probabilities[start:end],
            )
        )
        start = end
    return parts


class MicroBatcher:
    """Queue predict requests and serve them in batches of at most `max_rows` rows.

    A batch is predicted in a worker thread, so that the event loop keeps reading requests
    meanwhile: those become the next batch. When the last batch held several requests (the
    service is under concurrent load), the next one waits up to `max_wait` seconds to fill.
    """

    def __init__(self, predict: PredictFn, *, max_rows: int, max_wait: float) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._queue: deque[_Request] = deque()
        self._arrived = asyncio.Event()
        self._closing = False
        self._last_batch_requests = 0
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def predict(self, rows: Sequence[Features]) -> BatchResult:
        if self._closing:
            raise ModelNotReadyError("the service is shutting down")
        request = _Request(rows)
        self._queue.append(request)
        self._arrived.set()
        return await request.future

    async def close(self) -> None:
        """Predict everything already queued, then stop."""
        self._closing = True
        self._arrived.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if self._last_batch_requests > 1 and not self._closing:
                await self._fill(time.monotonic() + self._max_wait)
            while self._queue:
                await self._predict_batch(self._take_batch())
            if self._closing:
                return

    async def _fill(self, deadline: float) -> None:
        while self._queued_rows() < self._max_rows and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return
            self._arrived.clear()

    def _queued_rows(self) -> int:
        return sum(len(request.rows) for request in self._queue)

    def _take_batch(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self._max_rows:
            rows += len(self._queue[0].rows)
            batch.append(self._queue.popleft())
        return batch

    async def _predict_batch(self, batch: list[_Request]) -> None:
        self._last_batch_requests = len(batch)
        rows = [row for request in batch for row in request.rows]
        start = time.perf_counter()
        try:
            predictions = await run_in_threadpool(self._predict, rows)
            parts = split(predictions, [len(request.rows) for request in batch])
        except Exception:
            # One request's rows broke the model call: predict each request on its own, so
            # that only that request fails and its neighbours still get their answers.
            for request in batch:
                await self._predict_alone(request)
            return
        seconds = time.perf_counter() - start
        for request, part in zip(batch, parts, strict=True):
            if not request.future.done():  # its client may have gone away
                request.future.set_result(BatchResult(part, seconds))

    async def _predict_alone(self, request: _Request) -> None:
        start = time.perf_counter()
        try:
            predictions = await run_in_threadpool(self._predict, request.rows)
            split(predictions, [len(request.rows)])  # one output per row, or an error
        except Exception as error:
            if not request.future.done():
                request.future.set_exception(error)
            return
        if not request.future.done():
            request.future.set_result(BatchResult(predictions, time.perf_counter() - start))
