"""The Predictor: the estimator's own probabilities, each labelled with its class."""

from pathlib import Path

import joblib
import numpy as np

from {{ cookiecutter.package_name }}.predictor import Features, Predictor
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata

from .conftest import varied_rows


def test_predictions_are_the_estimators_own(model_path: Path, metadata: ModelMetadata) -> None:
    rows = varied_rows(metadata, 200)
    x = np.array([[row[name] for name in Features.model_fields] for row in rows])
    estimator = joblib.load(model_path)
    classes = metadata.classes or []

    result = Predictor.load(model_path, metadata, threads=1).predict(x)

    assert result.outputs == [classes[i] for i in estimator.predict_proba(x).argmax(axis=1)]
    assert result.probabilities == [
        dict(zip(classes, p, strict=True)) for p in estimator.predict_proba(x).tolist()
    ]
    assert np.isclose(sum(result.probabilities[0].values()), 1.0)
