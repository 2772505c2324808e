from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

# A row per instance, a column per field of `Features` in order, in float64: exact for them all.
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Predictions:
    """Per input row, in order: a class label or a number, and a classifier's probabilities."""

    outputs: list[str] | list[float]
    probabilities: list[dict[str, float]] | None = None

    def check_count(self, rows: int) -> None:
        """ValueError unless one output (and probabilities) per row: a lost one shifts the rest."""
        outputs, probabilities = len(self.outputs), self.probabilities
        if outputs != rows or (probabilities is not None and len(probabilities) != rows):
            given = "" if probabilities is None else f" and {len(probabilities)} probabilities"
            raise ValueError(f"the model returned {outputs} outputs{given} for {rows} rows")

    def split(self, sizes: Sequence[int]) -> list["Predictions"]:
        """Cut the predictions of concatenated requests back into one per request."""
        self.check_count(sum(sizes))
        parts, start = [], 0
        for size in sizes:
            end = start + size
            probabilities = None if self.probabilities is None else self.probabilities[start:end]
            parts.append(Predictions(self.outputs[start:end], probabilities))
            start = end
        return parts


def to_matrix(rows: Sequence[BaseModel], width: int) -> Matrix:
    """Validated rows as a Matrix; read from `__dict__` (the fields alone, in declaration order),
    far faster than iterating the models. OverflowError for an int past float64."""
    values = chain.from_iterable(row.__dict__.values() for row in rows)
    return np.fromiter(values, dtype=np.float64, count=len(rows) * width).reshape(-1, width)


async def predict_rows(
    predict: Callable[[Matrix], Predictions], x: Matrix, inline_max_rows: int
) -> Predictions:
    """`predict(x)` on the event loop for up to `inline_max_rows` rows (faster than the hop to a
    thread), else in a thread, so that the loop keeps serving health checks meanwhile."""
    if len(x) <= inline_max_rows:
        return predict(x)
    return await run_in_threadpool(predict, x)
