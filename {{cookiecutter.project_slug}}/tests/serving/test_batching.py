import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.predictor import Predictor
from {{ cookiecutter.package_name }}.serving.batching import MicroBatcher
from {{ cookiecutter.package_name }}.serving.loader import ModelNotReadyError, load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.serving.prediction import Matrix, Predictions
from {{ cookiecutter.package_name }}.settings import Settings

SENTINEL = -12345.0


class RecordingModel:
    """The real predictor, recording how many rows each model call gets; a row whose first
    feature is SENTINEL makes the call fail, as a row the model cannot handle would."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.calls: list[int] = []

    def predict(self, x: Matrix) -> Predictions:
        self.calls.append(len(x))
        if (x[:, 0] == SENTINEL).any():
            raise ValueError("the model cannot handle this row")
        return self.predictor.predict(x)


@pytest.fixture
def model(model_path: Path) -> RecordingModel:
    return RecordingModel(load_model(model_path, threads=1).predictor)


def assert_same_predictions(actual: Predictions, expected: Predictions) -> None:
    """Equal outputs, and probabilities equal but for rounding: a model's sums over a batch may
    add up in another order than over one row (scikit-learn's linear models do)."""
    assert actual.outputs == expected.outputs
    if expected.probabilities is None or actual.probabilities is None:
        assert actual.probabilities is expected.probabilities is None
        return
    for got, want in zip(actual.probabilities, expected.probabilities, strict=True):
        assert got == pytest.approx(want)


def distinct_rows(metadata: ModelMetadata, count: int) -> Matrix:
    """Rows spread from the low to the high end of every feature: each predicts differently."""
    low = np.array([metadata.summary[spec.name].quantiles["p05"] for spec in metadata.features])
    high = np.array([metadata.summary[spec.name].quantiles["p95"] for spec in metadata.features])
    weights = np.linspace(0, 1, count)[:, np.newaxis]
    rows: Matrix = (1 - weights) * low + weights * high
    return rows


def each(rows: Matrix) -> list[Matrix]:
    """One request of one row per row."""
    return [rows[i : i + 1] for i in range(len(rows))]


def test_each_caller_gets_the_predictions_of_its_own_rows(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 60)
    requests = [rows[i : i + 1 + i % 3] for i in range(0, 60, 3)]

    async def scenario() -> list[Predictions]:
        batcher = MicroBatcher(model.predict, max_rows=64, max_wait=0.005, inline_max_rows=100)
        results = await asyncio.gather(*(batcher.predict(request) for request in requests))
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert max(model.calls) > 3, "concurrent requests were not batched"
    for request, result in zip(requests, results, strict=True):
        assert_same_predictions(result, model.predictor.predict(request))


def test_requests_read_in_the_same_turn_share_one_model_call_without_waiting(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 12)
    observed: list[float] = []

    async def scenario() -> None:
        batcher = MicroBatcher(
            model.predict,
            max_rows=64,
            max_wait=0,
            inline_max_rows=100,
            observe_call=observed.append,
        )
        # Queued in one turn of the loop, as requests read together from the network are.
        first = await asyncio.gather(*(batcher.predict(row) for row in each(rows)))
        # Then one at a time: each is predicted alone, in the turn it was queued.
        for row in each(rows[:3]):
            await batcher.predict(row)
        await batcher.close()
        for row, result in zip(each(rows), first, strict=True):
            assert_same_predictions(result, model.predictor.predict(row))

    asyncio.run(scenario())
    assert model.calls == [12, 1, 1, 1]
    assert len(observed) == 4, "each model call, not each request, is timed"
    assert all(seconds > 0 for seconds in observed)


async def trickle(batcher: MicroBatcher, rows: Matrix) -> list[asyncio.Task[Predictions]]:
    """Queue one request per round of the event loop, as clients answered one after another
    send their next requests."""
    pending = []
    for row in each(rows):
        pending.append(asyncio.create_task(batcher.predict(row)))
        await asyncio.sleep(0)
    return pending


def test_under_load_a_batch_gathers_requests_while_they_keep_arriving(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 24)

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict, max_rows=8, max_wait=30, inline_max_rows=100)
        # A first batch of several requests: the service is under load from now on.
        await asyncio.gather(*(batcher.predict(row) for row in each(rows[:4])))
        # Six arrive one round apart: one model call takes them all, once a round brings none.
        pending = await trickle(batcher, rows[4:10])
        await asyncio.wait_for(asyncio.gather(*pending), timeout=20)
        # Fourteen: the batch goes as soon as it holds max_rows, the rest make the next one.
        pending = await trickle(batcher, rows[10:])
        await asyncio.wait_for(asyncio.gather(*pending), timeout=20)
        await batcher.close()
        for row, task in zip(each(rows[10:]), pending, strict=True):
            assert_same_predictions(task.result(), model.predictor.predict(row))

    asyncio.run(scenario())
    assert model.calls == [4, 6, 8, 6]


def test_a_gathering_batch_goes_after_max_wait_even_if_requests_keep_coming(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 4)
    sent = 0

    async def scenario() -> None:
        nonlocal sent
        batcher = MicroBatcher(model.predict, max_rows=10**6, max_wait=0.02, inline_max_rows=10**6)
        await asyncio.gather(*(batcher.predict(row) for row in each(rows)))
        pending = []
        # One request per round until the gathering batch has been predicted.
        while len(model.calls) < 2 and sent < 10**6:
            pending.append(asyncio.create_task(batcher.predict(each(rows)[sent % 4])))
            sent += 1
            await asyncio.sleep(0)
        await asyncio.gather(*pending)
        await batcher.close()

    asyncio.run(scenario())
    assert len(model.calls) >= 2
    assert 1 < model.calls[1] < sent, "the batch did not stop gathering at max_wait"


def test_batches_larger_than_the_inline_limit_are_predicted_in_a_worker_thread(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 8)
    threads: list[int] = []

    def predict(x: Matrix) -> Predictions:
        threads.append(threading.get_ident())
        return model.predict(x)

    async def scenario() -> None:
        batcher = MicroBatcher(predict, max_rows=64, max_wait=0, inline_max_rows=4)
        await asyncio.gather(*(batcher.predict(row) for row in each(rows[:4])))  # inline
        await asyncio.gather(*(batcher.predict(row) for row in each(rows)))  # 8 rows: a thread
        await batcher.close()

    asyncio.run(scenario())
    assert model.calls == [4, 8]
    assert threads[0] == threading.get_ident()
    assert threads[1] != threading.get_ident()


def test_a_failing_request_does_not_fail_its_neighbours(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 10)
    bad = rows[:1].copy()
    bad[0, 0] = SENTINEL
    requests = each(rows)
    requests[4] = bad

    async def scenario() -> list[Predictions | BaseException]:
        batcher = MicroBatcher(model.predict, max_rows=64, max_wait=0.005, inline_max_rows=100)
        results = await asyncio.gather(
            *(batcher.predict(request) for request in requests), return_exceptions=True
        )
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert isinstance(results[4], ValueError)
    for i, (request, result) in enumerate(zip(requests, results, strict=True)):
        if i != 4:
            assert isinstance(result, Predictions)
            assert_same_predictions(result, model.predictor.predict(request))


def test_close_answers_every_queued_request_then_refuses(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 20)

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict, max_rows=8, max_wait=0.005, inline_max_rows=100)
        pending = [asyncio.ensure_future(batcher.predict(row)) for row in each(rows)]
        await asyncio.sleep(0)  # queued, not yet predicted
        await batcher.close()
        assert all(task.done() for task in pending)
        for row, task in zip(each(rows), pending, strict=True):
            assert_same_predictions(task.result(), model.predictor.predict(row))
        with pytest.raises(ModelNotReadyError):
            await batcher.predict(rows[:1])

    asyncio.run(scenario())
    assert max(model.calls) <= 8


def test_a_cancelled_close_still_answers_and_a_cancelled_batch_fails_its_requests(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 4)

    def slow_predict(x: Matrix) -> Predictions:
        time.sleep(0.3)
        return model.predict(x)

    async def scenario() -> None:
        # Batches of more than one row go to a thread, which a cancelled task cannot stop.
        batcher = MicroBatcher(slow_predict, max_rows=64, max_wait=0, inline_max_rows=1)
        waiting = asyncio.ensure_future(batcher.predict(rows[:2]))
        await asyncio.sleep(0.05)  # its model call under way
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.close(), timeout=0.05)
        assert_same_predictions(await waiting, model.predictor.predict(rows[:2]))

        batcher = MicroBatcher(slow_predict, max_rows=2, max_wait=0, inline_max_rows=1)
        predicting = asyncio.ensure_future(batcher.predict(rows[:2]))
        queued = asyncio.ensure_future(batcher.predict(rows[2:]))
        await asyncio.sleep(0.05)
        (flush,) = [task for task in asyncio.all_tasks() if task.get_name() == "micro-batch"]
        flush.cancel()
        for request in (predicting, queued):
            with pytest.raises(ModelNotReadyError):
                await asyncio.wait_for(request, timeout=5)

    asyncio.run(scenario())


def test_one_client_at_a_time_never_waits_for_a_batch_to_fill(
    model: RecordingModel, metadata: ModelMetadata
) -> None:
    rows = distinct_rows(metadata, 5)

    async def scenario() -> None:
        # Were a lone request held for the fill window, this would time out.
        batcher = MicroBatcher(model.predict, max_rows=64, max_wait=60, inline_max_rows=100)
        for row in each(rows):
            await asyncio.wait_for(batcher.predict(row), timeout=20)
        await batcher.close()

    asyncio.run(scenario())
    assert model.calls == [1] * len(rows)


def test_service_with_batching_predicts_and_counts_as_without(
    model_path: Path, row: dict[str, float | int]
) -> None:
    settings = Settings(model_path=model_path, log_format="json", batch_max_rows=32, _env_file=None)
    with TestClient(create_app(settings)) as client:
        batched = client.post("/predict", json={"instances": [row, row]})
        large = client.post("/predict", json={"instances": [row] * 40})  # not batched
        metrics = client.get("/metrics").text
    assert batched.status_code == large.status_code == 200
    assert batched.json()["predictions"] * 20 == large.json()["predictions"]
    assert "model_predictions_total 42.0" in metrics
    assert "model_request_rows_count 2.0" in metrics
    assert "model_inference_duration_seconds_count 2.0" in metrics  # one call each
