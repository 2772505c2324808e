"""The training-decile bins of features and predictions. Training fills them once (the shares
saved with the model); the service counts live rows into the same bins (drift.py).

A bin is cut at the distinct deciles only: bin i holds edges[i - 1] <= value < edges[i]. A
feature with many equal values (or a constant one) has repeated deciles, and a bin between two
equal edges could never hold a row, in training or live; leaving it out keeps every bin's
training share above zero, except the first one's when the smallest values are tied.
"""

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

Array = npt.NDArray[np.floating]


class PredictionSummary(BaseModel):
    """Distribution of the model's predictions on its training data."""

    edges: list[float] = Field(description="Bin edges of the scores; none for classes.")
    shares: list[float] = Field(description="Training share of each bin, or of each class.")


def decile_edges(values: Array) -> Array:
    """The distinct inner decile edges of `values`."""
    return np.unique(np.quantile(values, np.arange(1, 10) / 10))


def bin_shares(values: Array, edges: Array | list[float]) -> list[float]:
    """The share of `values` in each bin cut at `edges` (len(edges) + 1 bins)."""
    bins = np.searchsorted(np.asarray(edges), values, side="right")
    return [float(share) for share in np.bincount(bins, minlength=len(edges) + 1) / len(values)]


def summarize_predictions(predictions: Array, classes: list[str] | None) -> PredictionSummary:
    """Training predictions as the service counts them: a regressor's values, a binary
    classifier's probability of its second class (`predict_proba(x)[:, 1]`) in decile bins;
    otherwise the share of the rows predicted as each class (the most probable one)."""
    if classes and len(classes) > 2:
        counts = np.bincount(predictions.argmax(axis=1), minlength=len(classes))
        return PredictionSummary(edges=[], shares=[float(n) / len(predictions) for n in counts])
    scores = predictions[:, 1] if classes else predictions
    edges = decile_edges(scores)
    return PredictionSummary(edges=[float(e) for e in edges], shares=bin_shares(scores, edges))
