"""POST /explain and KServe V1's :explain: the predictor's own contributions, or a 501."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.serving.loader import load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.serving.prediction import Matrix, Predictions
from {{ cookiecutter.package_name }}.settings import Settings

from ..api.test_predict import override_model
from ..conftest import FEATURES, Row, varied_rows


def test_explanations_are_the_predictors_own_on_both_routes(
    client: TestClient, settings: Settings, model_path: Path, metadata: ModelMetadata
) -> None:
    rows = varied_rows(metadata, 12, seed=7)
    response = client.post("/explain", json={"instances": rows})
    v1 = client.post(f"/v1/models/{settings.model_name}:explain", json={"instances": rows})
    explain: Any = getattr(load_model(model_path, threads=1).predictor, "explain", None)
    if explain is None:  # a predictor that offers none, as the scikit-learn one
        assert (response.status_code, v1.status_code) == (501, 501)
        return
    x = np.array([[row[name] for name in FEATURES] for row in rows])
    expected = explain(x)  # (rows, scores, features + 1), the bias last
    classes = metadata.classes or [""]
    labels = classes if expected.shape[1] > 1 else classes[-1:]
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert v1.json() == {"explanations": body["explanations"]}
    assert len(body["explanations"]) == len(rows)
    for explanation, row in zip(body["explanations"], expected, strict=True):
        assert list(explanation) == labels
        for label, scores in zip(labels, row, strict=True):
            assert list(explanation[label]["contributions"]) == FEATURES
            contributions = list(explanation[label]["contributions"].values())
            np.testing.assert_allclose(contributions, scores[:-1], rtol=1e-6)
            assert explanation[label]["bias"] == pytest.approx(float(scores[-1]))


class PredictOnly:
    """A predictor that offers no `explain` method."""

    def predict(self, x: Matrix) -> Predictions:
        return Predictions(outputs=[0.0] * len(x))


def test_a_model_without_explanations_is_a_501_on_both_routes(
    client: TestClient, app: FastAPI, settings: Settings, row: Row
) -> None:
    override_model(app, PredictOnly())
    response = client.post("/explain", json={"instances": [row]})
    assert response.status_code == 501
    assert "has no explain method" in response.json()["detail"]
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
    v1 = client.post(f"/v1/models/{settings.model_name}:explain", json={"instances": [row]})
    assert v1.status_code == 501
    assert v1.json() == {"error": response.json()["detail"]}


def test_an_invalid_row_is_refused_before_explaining(client: TestClient, row: Row) -> None:
    response = client.post("/explain", json={"instances": [row | {FEATURES[0]: "x"}]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == f"instances[0].{FEATURES[0]}"
