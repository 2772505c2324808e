"""Micro-batching, opt-in (BATCH_MAX_ROWS): a tree model's call costs nearly as much for one row
as for dozens. To remove it, delete this and its lines in app.py and api/deps.py."""

import asyncio
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from .loader import ModelNotReadyError
from .prediction import Matrix, Predictions, predict_rows

# Quiet rounds of the loop that end a gathering batch: a request is queued two rounds after its
# bytes are read; the third is a margin.
QUIET_ROUNDS = 3

Waiter = tuple[Matrix, asyncio.Future[Predictions]]


class MicroBatcher:
    """Predict in one call (up to `max_rows` rows) the requests read in one turn of the loop; after
    a batch of several, gather while each round brings more rows, up to `max_wait` seconds."""

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
            # Shielded: a shutdown's timeout must not cancel what queued requests wait for.
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
            # Cancelled, or worse: no request may wait for an answer that never comes.
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
            # One request's rows broke the call: alone, only that request fails.
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
