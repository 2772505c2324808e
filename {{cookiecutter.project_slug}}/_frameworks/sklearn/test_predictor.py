"""The sample Predictor: the estimator's own probabilities, each labelled with its class."""

from pathlib import Path

import joblib
import numpy as np

from {{ cookiecutter.package_name }}.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.predictor import Features, Predictor
from {{ cookiecutter.package_name }}.sample_data import load_sample_data


def test_predictions_are_the_estimators_own(model_path: Path, metadata: ModelMetadata) -> None:
    x = load_sample_data(Features).x_test  # held-out rows, which the model puts in both classes
    estimator = joblib.load(model_path)
    classes = metadata.classes or []

    result = Predictor.load(model_path, metadata, threads=1).predict(x)

    assert result.outputs == [classes[i] for i in estimator.predict(x)]
    assert set(result.outputs) == set(classes)
    assert result.probabilities == [
        dict(zip(classes, p, strict=True)) for p in estimator.predict_proba(x).tolist()
    ]
    assert np.isclose(sum(result.probabilities[0].values()), 1.0)
