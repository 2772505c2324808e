"""Drift: live inputs and predictions counted into the training-decile bins saved with the model
(bins.py), beside each bin's training share; prometheus/rules/service.yml turns the two into a
Population Stability Index per feature and one for the predictions."""

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge

from ..serving.metadata import ModelMetadata
from ..serving.prediction import Matrix, Predictions

BINS = 10  # at most: nine inner deciles


class DriftMetrics:
    """Rows per (feature, bin) and predictions per bin or class: bounded series, at most
    `features` x 10 for the inputs, whatever the traffic."""

    def __init__(self, registry: CollectorRegistry, features: int) -> None:
        self.features = features
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
        self.edges = np.empty((0, BINS - 1))  # per tracked column, padded with +inf
        self.input_bins: list[Counter] = []  # by tracked column, then bin
        self.offsets = np.empty(0, dtype=np.intp)  # where each column's bins start in input_bins
        self.output_edges: list[float] = []
        self.output_bins: list[Counter] = []
        self.classes: dict[str, int] = {}  # a classifier of more than two classes: by class
        self.positive = ""  # a binary classifier: the class whose probability is binned

    def set_model(self, metadata: ModelMetadata) -> None:
        """Export the training shares, and create every counter at 0 so that a bin no live row
        has fallen in yet still counts in the PSI."""
        edges, offsets = [], []
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
        self.edges = np.array(edges).reshape(-1, BINS - 1)
        self.offsets = np.array(offsets, dtype=np.intp)
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

    def observe(self, x: Matrix, result: Predictions) -> None:
        """Count the rows of one request: a numpy pass over the tracked columns, then one
        increment per bin that rows fell in."""
        if self.columns:
            # A value's bin is the number of edges at or below it: searchsorted(side="right").
            bins = (x[:, self.columns, None] >= self.edges).sum(axis=2)
            bins += self.offsets
            add(self.input_bins, np.bincount(bins.ravel(), minlength=len(self.input_bins)))
        if not self.output_bins:
            return
        if self.classes:
            indices = [self.classes[str(label)] for label in result.outputs]
        elif self.positive and result.probabilities is not None:
            scores = [row[self.positive] for row in result.probabilities]
            indices = np.searchsorted(self.output_edges, scores, side="right").tolist()
        else:
            indices = np.searchsorted(self.output_edges, result.outputs, side="right").tolist()
        add(self.output_bins, np.bincount(indices, minlength=len(self.output_bins)))


def add(counters: list[Counter], counts: npt.NDArray[np.intp]) -> None:
    """Add `counts` to `counters`, touching only those that count something."""
    for index in np.flatnonzero(counts):
        counters[index].inc(int(counts[index]))
