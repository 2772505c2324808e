"""What a predictor returns for a batch of rows."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Predictions:
    """One prediction per input row, in input order.

    `outputs` holds a class label per row for a classifier, or a number for a regressor.
    `probabilities` holds, for a classifier, each class's probability per row.
    """

    outputs: list[str] | list[float]
    probabilities: list[dict[str, float]] | None = None
