"""The one path from a matrix of rows to the model's predictions, for /predict and the inference
protocols alike: the same micro-batcher, the same model metrics."""

import time

from ..observability.metrics import ModelMetrics
from ..serving.batching import MicroBatcher
from ..serving.loader import LoadedModel
from ..serving.prediction import Matrix, Predictions, predict_rows
from ..settings import Settings


async def predict_matrix(
    x: Matrix,
    model: LoadedModel,
    settings: Settings,
    batcher: MicroBatcher | None,
    metrics: ModelMetrics,
) -> Predictions:
    rows = len(x)
    if batcher is not None and rows < settings.batch_max_rows:
        result = await batcher.predict(x)  # the batcher times its own model calls
    else:
        start = time.perf_counter()
        result = await predict_rows(model.predictor.predict, x, settings.inline_predict_max_rows)
        metrics.observe_call(time.perf_counter() - start)
        result.check_count(rows)
    metrics.observe_request(rows)
    return result
