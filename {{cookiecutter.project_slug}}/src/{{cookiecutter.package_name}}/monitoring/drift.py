"""Drift: live inputs and predictions counted into the training-decile bins saved with the model
(bins.py), beside each bin's training share; prometheus/rules/service.yml turns the two into a
Population Stability Index per feature and one for the predictions."""

import math
import time

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge

from ..serving.metadata import ModelMetadata
from ..serving.prediction import Matrix, Predictions

BINS = 10  # at most: nine inner deciles
# Counts wait in numpy arrays and reach the counters at most this often: one increment per bin
# and second rather than per bin and request, which would cost more than the counting (about
# 1.5 us each, so 150 us for a varied batch of 100 rows). The counts of a burst's last second
# wait for the next request.
FLUSH_SECONDS = 1.0


class DriftMetrics:
    """Rows per (feature, bin) and predictions per bin or class: bounded series, at most
    `features` x 10 for the inputs, whatever the traffic."""

    def __init__(
        self, registry: CollectorRegistry, features: int, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.features = features
        self.flush_seconds = flush_seconds
        self.flushed = -math.inf
        self.inputs = Counter(
            "model_input_bin_rows",
            "Rows whose feature fell in each training-decile bin.",
            ["feature", "bin"],
            registry=registry,
        )
        self.outputs = Counter(
            "model_prediction_bin_rows",
            "Predictions in each training-decile bin of the scores, or of each class.",
            ["bin"],
            registry=registry,
        )
        # "livemax": one series across the worker processes, which all export the same shares.
        self.input_shares = Gauge(
            "model_input_bin_training_ratio",
            "Share of the training rows in each bin of the feature.",
            ["feature", "bin"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.output_shares = Gauge(
            "model_prediction_bin_training_ratio",
            "Share of the training predictions in each bin of the scores, or of each class.",
            ["bin"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.columns: list[int] = []
        self.edges = np.empty((BINS - 1, 1, 0))  # edge, 1, tracked column; padded with +inf
        self.input_bins: list[Counter] = []  # by tracked column, then bin
        self.offsets = np.empty(0, dtype=np.intp)  # where each column's bins start in input_bins
        self.output_edges: list[float] = []
        self.output_bins: list[Counter] = []
        self.classes: dict[str, int] = {}  # a classifier of more than two classes: by class
        self.pending_inputs = np.zeros(0, dtype=np.intp)  # counts not added yet, per bin
        self.pending_outputs = np.zeros(0, dtype=np.intp)
        self.positive = ""  # a binary classifier: the class whose probability is binned

    def set_model(self, metadata: ModelMetadata) -> None:
        """Export the training shares, and create every counter at 0 so that a bin no live row
        has fallen in yet still counts in the PSI. Each call starts over (a lifespan run again)."""
        edges, offsets = [], []
        self.columns, self.input_bins, self.output_bins = [], [], []
        self.output_edges, self.classes, self.positive = [], {}, ""
        for column, spec in enumerate(metadata.features[: self.features]):
            summary = metadata.summary[spec.name]
            distinct = np.unique(summary.deciles)  # as bins.bin_shares cut them in training
            if len(summary.shares) != len(distinct) + 1:
                continue  # metadata written without the shares: nothing to compare with
            self.columns.append(column)
            offsets.append(len(self.input_bins))
            # No value reaches the +inf padding: a row's bin is below len(distinct) + 1.
            edges.append(np.pad(distinct, (0, BINS - 1 - len(distinct)), constant_values=np.inf))
            for index, share in enumerate(summary.shares):
                self.input_shares.labels(spec.name, str(index)).set(share)
                self.input_bins.append(self.inputs.labels(spec.name, str(index)))
        # Edges first: numpy sums the comparisons over the first axis three times faster.
        self.edges = np.array(edges).reshape(-1, BINS - 1).T.reshape(BINS - 1, 1, -1)
        self.offsets = np.array(offsets, dtype=np.intp)
        self.pending_inputs = np.zeros(len(self.input_bins), dtype=np.intp)
        if (predictions := metadata.predictions) is None or self.features == 0:
            return
        classes = metadata.classes or []
        if len(classes) > 2:
            names = classes
            self.classes = {name: index for index, name in enumerate(classes)}
        else:
            names = [str(index) for index in range(len(predictions.shares))]
            self.output_edges = predictions.edges
            self.positive = classes[1] if classes else ""
        for name, share in zip(names, predictions.shares, strict=True):
            self.output_shares.labels(name).set(share)
            self.output_bins.append(self.outputs.labels(name))
        self.pending_outputs = np.zeros(len(self.output_bins), dtype=np.intp)

    def observe(self, x: Matrix, result: Predictions) -> None:
        """Count the rows of one request, in numpy passes over the tracked columns and the
        predictions; once FLUSH_SECONDS have passed, add the counts to the counters."""
        if self.columns:
            # A value's bin is the number of edges at or below it: searchsorted(side="right").
            bins = (x[:, self.columns] >= self.edges).sum(axis=0) + self.offsets
            self.pending_inputs += np.bincount(bins.ravel(), minlength=len(self.input_bins))
        if self.output_bins:
            if self.classes:
                indices = [self.classes[str(label)] for label in result.outputs]
            elif self.positive and result.probabilities is not None:
                scores = [row[self.positive] for row in result.probabilities]
                indices = np.searchsorted(self.output_edges, scores, side="right").tolist()
            else:
                indices = np.searchsorted(self.output_edges, result.outputs, side="right").tolist()
            self.pending_outputs += np.bincount(indices, minlength=len(self.output_bins))
        if (now := time.monotonic()) - self.flushed >= self.flush_seconds:
            self.flush()
            self.flushed = now

    def flush(self) -> None:
        add(self.input_bins, self.pending_inputs)
        add(self.output_bins, self.pending_outputs)


def add(counters: list[Counter], pending: npt.NDArray[np.intp]) -> None:
    """Add the pending counts to the counters, touching only those that count something, and
    start them again from zero."""
    for index in np.flatnonzero(pending):
        counters[index].inc(int(pending[index]))
    pending[:] = 0
