from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.monitoring.bins import summarize_predictions
from {{ cookiecutter.package_name }}.monitoring.drift import DriftMetrics
from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.serving.loader import LoadedModel, load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.serving.prediction import (
    Matrix,
    Predictions,
    to_matrix,
)
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row, varied_rows


def matrix(metadata: ModelMetadata, count: int, seed: int) -> Matrix:
    rows = [Features.model_validate(row) for row in varied_rows(metadata, count, seed)]
    return to_matrix(rows, len(FEATURES))


def as_trained(result: Predictions, classes: list[str] | None) -> npt.NDArray[np.float64]:
    """What train.py gives describe_model: predict_proba's matrix, or a regressor's values."""
    if classes and result.probabilities is not None:
        return np.array([[row[name] for name in classes] for row in result.probabilities])
    return np.array(result.outputs, dtype=float)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture(scope="module")
def model(model_path: Path) -> LoadedModel:
    return load_model(model_path, threads=1)


@pytest.fixture(scope="module")
def described(model: LoadedModel) -> ModelMetadata:
    """The served metadata, with the predictions summarized as train.py does, whether or not
    the training script passed them."""
    metadata = model.metadata
    x = matrix(metadata, 300, seed=1)
    summary = summarize_predictions(
        as_trained(model.predictor.predict(x), metadata.classes), metadata.classes
    )
    return metadata.model_copy(update={"predictions": summary})


def test_rows_are_counted_in_the_training_bins_of_the_first_features(
    described: ModelMetadata, model: LoadedModel
) -> None:
    registry = CollectorRegistry()
    drift = DriftMetrics(registry, features=2)
    drift.set_model(described)
    x = matrix(described, 50, seed=2)
    drift.observe(x, model.predictor.predict(x))
    for column, spec in enumerate(described.features):
        summary = described.summary[spec.name]
        if column >= 2:
            assert value(registry, "model_input_bin_rows_total", feature=spec.name, bin="0") is None
            continue
        edges = np.unique(summary.deciles)
        expected = np.bincount(np.searchsorted(edges, x[:, column], side="right"), minlength=10)
        for index, share in enumerate(summary.shares):
            labels = {"feature": spec.name, "bin": str(index)}
            assert value(registry, "model_input_bin_rows_total", **labels) == expected[index]
            assert value(registry, "model_input_bin_training_ratio", **labels) == share


def test_predictions_are_counted_in_the_training_bins_or_per_class(
    described: ModelMetadata, model: LoadedModel
) -> None:
    registry = CollectorRegistry()
    drift = DriftMetrics(registry, features=1)
    drift.set_model(described)
    x = matrix(described, 40, seed=3)
    result = model.predictor.predict(x)
    drift.observe(x, result)
    assert described.predictions is not None
    edges, shares = described.predictions.edges, described.predictions.shares
    if edges:  # scores: a regressor's values, or a binary classifier's second class
        bins = [str(index) for index in range(len(shares))]
        scores = as_trained(result, described.classes)
        values = scores[:, 1] if scores.ndim == 2 else scores
        expected = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(bins))
    else:
        bins = described.classes or []
        expected = np.array([sum(output == name for output in result.outputs) for name in bins])
    counted = [value(registry, "model_prediction_bin_rows_total", bin=name) for name in bins]
    assert counted == expected.tolist()
    assert expected.sum() == len(x)
    for name, share in zip(bins, shares, strict=True):
        assert value(registry, "model_prediction_bin_training_ratio", bin=name) == share


def test_no_tracked_feature_counts_nothing(described: ModelMetadata, model: LoadedModel) -> None:
    registry = CollectorRegistry()
    drift = DriftMetrics(registry, features=0)
    drift.set_model(described)
    x = matrix(described, 5, seed=4)
    drift.observe(x, model.predictor.predict(x))
    names = {sample.name for family in registry.collect() for sample in family.samples}
    assert not names & {"model_input_bin_rows_total", "model_prediction_bin_rows_total"}


def test_a_feature_saved_without_shares_is_left_out(described: ModelMetadata) -> None:
    first = described.features[0].name
    summary = described.summary | {
        first: described.summary[first].model_copy(update={"shares": []})
    }
    registry = CollectorRegistry()
    DriftMetrics(registry, features=len(FEATURES)).set_model(
        described.model_copy(update={"summary": summary})
    )
    assert value(registry, "model_input_bin_rows_total", feature=first, bin="0") is None
    for spec in described.features[1:]:
        assert value(registry, "model_input_bin_rows_total", feature=spec.name, bin="0") == 0


def test_counts_reach_the_counters_at_most_once_per_flush_interval(
    described: ModelMetadata, model: LoadedModel
) -> None:
    registry = CollectorRegistry()
    drift = DriftMetrics(registry, features=1, flush_seconds=3600)
    drift.set_model(described)
    x = matrix(described, 10, seed=7)
    result = model.predictor.predict(x)
    first = described.features[0].name

    def counted() -> float:
        bins = range(len(described.summary[first].shares))
        return sum(
            value(registry, "model_input_bin_rows_total", feature=first, bin=str(b)) or 0
            for b in bins
        )

    drift.observe(x, result)  # the first request is added at once
    assert counted() == 10
    drift.observe(x, result)
    assert counted() == 10
    drift.flush()
    assert counted() == 20


def test_the_predict_route_counts_the_rows_of_a_tracked_feature(
    client: TestClient, metadata: ModelMetadata
) -> None:
    rows = varied_rows(metadata, 14, seed=5)
    assert client.post("/predict", json={"instances": rows}).status_code == 200
    samples = [
        sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name == "model_input_bin_rows_total"
        and sample.labels["feature"] == metadata.features[0].name
    ]
    assert sum(samples) == 14


def test_the_lifespan_run_twice_counts_as_once(settings: Settings, row: Row) -> None:
    """An app started again (a test, a server that reruns the lifespan) tracks the same bins."""
    app = create_app(settings)
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/predict", json={"instances": [row]}).status_code == 200
    assert len(app.state.monitor.drift.columns) == min(settings.drift_features, len(FEATURES))
