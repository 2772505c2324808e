"""What a predictor takes, and what it returns."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

# The rows of one model call: a row per instance, a column per feature in the order of the
# fields of `predictor.Features`, as 64-bit floats (which hold every feature's value exactly:
# integers up to 2**53, and every float).
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Predictions:
    """One prediction per input row, in input order.

    `outputs` holds a class label per row for a classifier, or a number for a regressor.
    `probabilities` holds, for a classifier, each class's probability per row.
    """

    outputs: list[str] | list[float]
    probabilities: list[dict[str, float]] | None = None

    def check_count(self, rows: int) -> None:
        """Raise ValueError unless there is one output (and one set of probabilities, if any)
        per row: a predictor that lost or added one would shift every answer after it."""
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
    """Validated rows as a Matrix of `width` columns.

    A model's `__dict__` holds its fields alone, in declaration order: read from there, 100 rows
    of 30 take a tenth of the time that iterating the models does. Raises OverflowError for an
    int that no 64-bit float holds.
    """
    values = chain.from_iterable(row.__dict__.values() for row in rows)
    return np.fromiter(values, dtype=np.float64, count=len(rows) * width).reshape(-1, width)


async def predict_rows(
    predict: Callable[[Matrix], Predictions], x: Matrix, inline_max_rows: int
) -> Predictions:
    """`predict(x)`: on the event loop for up to `inline_max_rows` rows, else in a thread.

    A tree model predicts a few rows in well under a millisecond, about what the hop to a
    thread and back costs. Larger requests go to a thread, so that the loop keeps serving health
    checks meanwhile.
    """
    if len(x) <= inline_max_rows:
        return predict(x)
    return await run_in_threadpool(predict, x)
