"""Micro-batching, opt-in (BATCH_MAX_ROWS): concurrent small requests share one model call.

A tree model's predict call costs nearly as much for one row as for dozens. Requests read in the
same turn of the event loop queue here, and one call predicts all their rows; each caller gets
its own slice back. A lone client's request is predicted in the turn it arrived: nothing waits.
To remove it, delete this module and the lines that use it in app.py, api/deps.py,
api/inference.py and the routes that hand the batcher to it.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from .loader import ModelNotReadyError
from .prediction import Matrix, Predictions, predict_rows

# Rounds of the event loop without a new request after which a gathering batch is predicted.
# Bytes read from a socket reach this queue two rounds later (one to read them and start the
# request's task, one to run it), on asyncio's loop and on uvloop alike; the third is a margin.
QUIET_ROUNDS = 3

Waiter = tuple[Matrix, asyncio.Future[Predictions]]


class MicroBatcher:
    """Queue requests and predict together those that arrive in the same turn of the loop.

    The first request queued starts a flush, which runs once every request already read is
    queued: up to `max_rows` rows per model call. Under steady concurrent load that splits the
    clients into two halves that alternate; so with `max_wait` above zero, a flush after a batch
    of several requests first lets the loop go round while each round brings more rows, for at
    most `max_wait` seconds: with 32 clients, that doubles the rows per call, from about 16.
    Batches of up to `inline_max_rows` rows are predicted on the event loop, larger ones in a
    thread. `observe_call` gets the seconds of each model call that succeeded.
    """

    def __init__(
        self,
        predict: Callable[[Matrix], Predictions],
        *,
        max_rows: int,
        max_wait: float,
        inline_max_rows: int,
        observe_call: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._predict_fn, self._observe_call = predict, observe_call
        self._max_rows, self._max_wait, self._inline_max_rows = max_rows, max_wait, inline_max_rows
        self._queue: deque[Waiter] = deque()
        self._queued_rows = 0
        self._flush: asyncio.Task[None] | None = None
        self._closing = False
        self._last_batch_requests = 0

    async def predict(self, x: Matrix) -> Predictions:
        if self._closing:
            raise ModelNotReadyError("the service is shutting down")
        future: asyncio.Future[Predictions] = asyncio.get_running_loop().create_future()
        self._queue.append((x, future))
        self._queued_rows += len(x)
        if self._flush is None:
            # A task's first step runs after every callback already scheduled in this turn.
            self._flush = asyncio.create_task(self._run_flush(), name="micro-batch")
        return await future

    async def close(self) -> None:
        """Predict everything already queued, then refuse new requests."""
        self._closing = True
        if self._flush is not None:
            # Shielded: cancelling the close (a shutdown's timeout) must not cancel the
            # predictions that queued requests still wait for.
            await asyncio.shield(self._flush)

    async def _run_flush(self) -> None:
        batch: list[Waiter] = []
        try:
            if self._max_wait > 0 and self._last_batch_requests > 1:
                await self._gather()
            while self._queue:
                batch = self._take_batch()
                await self._predict_batch(batch)
        except BaseException:
            # Cancelled, or worse: no request may wait for an answer that will never come.
            stopped = ModelNotReadyError("the service stopped before it could predict")
            for _, future in [*batch, *self._queue]:
                if not future.done():
                    future.set_exception(stopped)
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

    def _take_batch(self) -> list[Waiter]:
        batch = [self._queue.popleft()]
        rows = len(batch[0][0])
        while self._queue and rows + len(self._queue[0][0]) <= self._max_rows:
            rows += len(self._queue[0][0])
            batch.append(self._queue.popleft())
        self._queued_rows -= rows
        return batch

    async def _call_model(self, x: Matrix) -> Predictions:
        start = time.perf_counter()
        predictions = await predict_rows(self._predict_fn, x, self._inline_max_rows)
        self._observe_call(time.perf_counter() - start)
        return predictions

    async def _predict_batch(self, batch: list[Waiter]) -> None:
        self._last_batch_requests = len(batch)
        x = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
        try:
            parts = (await self._call_model(x)).split([len(x) for x, _ in batch])
        except Exception:
            # One request's rows broke the model call: predict each request on its own, so
            # that only that request fails and its neighbours still get their answers.
            for waiter in batch:
                await self._predict_alone(*waiter)
            return
        for (_, future), part in zip(batch, parts, strict=True):
            if not future.done():  # its client may have gone away
                future.set_result(part)

    async def _predict_alone(self, x: Matrix, future: asyncio.Future[Predictions]) -> None:
        try:
            predictions = await self._call_model(x)
            predictions.check_count(len(x))
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(predictions)
