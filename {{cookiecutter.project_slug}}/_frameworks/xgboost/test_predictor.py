"""The sample Predictor: the booster's own probabilities, each labelled with its class."""

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from {{ cookiecutter.package_name }}.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.predictor import Features, Predictor
from {{ cookiecutter.package_name }}.sample_data import load_sample_data

CLASSES = ["first", "second", "third"]


@pytest.fixture(scope="module")
def test_rows() -> np.ndarray:
    """The sample data's held-out rows, which the model puts in both classes."""
    return load_sample_data(Features).x_test


def train(x: np.ndarray, labels: np.ndarray, params: dict[str, object], rounds: int) -> xgb.Booster:
    return xgb.train(params, xgb.DMatrix(x, label=labels), num_boost_round=rounds)


def test_a_binary_model_gives_the_boosters_probabilities(
    model_path: Path, metadata: ModelMetadata, test_rows: np.ndarray
) -> None:
    predictor = Predictor.load(model_path, metadata, threads=1)
    booster = xgb.Booster(model_file=model_path)
    positive = booster.inplace_predict(test_rows.astype(np.float32))
    both = np.column_stack([1.0 - positive, positive])

    result = predictor.predict(test_rows)

    classes = metadata.classes or []
    assert result.outputs == [classes[i] for i in both.argmax(axis=1)]
    assert set(result.outputs) == set(classes)  # both sides of the boundary are covered
    assert result.probabilities is not None
    assert [p[classes[1]] for p in result.probabilities] == positive.tolist()
    assert [p[classes[0]] for p in result.probabilities] == pytest.approx((1.0 - positive).tolist())


def test_a_tie_goes_to_the_first_class(test_rows: np.ndarray) -> None:
    # No trees: every row gets the base score, exactly 0.5.
    labels = np.arange(len(test_rows)) % 2
    booster = train(test_rows, labels, {"objective": "binary:logistic", "base_score": 0.5}, 0)
    result = Predictor(booster, CLASSES[:2]).predict(test_rows[:3])
    assert result.outputs == ["first"] * 3
    assert result.probabilities == [{"first": 0.5, "second": 0.5}] * 3


def test_a_multi_class_model_gives_a_probability_per_class(test_rows: np.ndarray) -> None:
    labels = np.arange(len(test_rows)) % 3
    booster = train(test_rows, labels, {"objective": "multi:softprob", "num_class": 3}, 5)
    expected = booster.inplace_predict(test_rows.astype(np.float32))

    result = Predictor(booster, CLASSES).predict(test_rows)

    assert result.outputs == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert result.probabilities == [dict(zip(CLASSES, p, strict=True)) for p in expected.tolist()]


def test_a_class_count_other_than_the_models_is_refused(
    model_path: Path, metadata: ModelMetadata, test_rows: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="the model predicts 2 classes; the metadata names 3"):
        Predictor.load(model_path, metadata.model_copy(update={"classes": CLASSES}), threads=1)

    labels = np.arange(len(test_rows)) % 3
    train(test_rows, labels, {"objective": "multi:softprob", "num_class": 3}, 1).save_model(
        tmp_path / "three.ubj"
    )
    with pytest.raises(ValueError, match="the model predicts 3 classes; the metadata names 2"):
        Predictor.load(tmp_path / "three.ubj", metadata, threads=1)
    three = metadata.model_copy(update={"classes": CLASSES})
    predictor = Predictor.load(tmp_path / "three.ubj", three, threads=1)
    assert predictor.predict(test_rows[:1]).outputs[0] in CLASSES


@pytest.mark.parametrize(
    "params",
    [
        {"objective": "binary:logitraw"},  # margins, not probabilities
        {"objective": "multi:softmax", "num_class": 2},  # class indices
        {"objective": "reg:squarederror"},
    ],
)
def test_an_objective_without_class_probabilities_is_refused(
    metadata: ModelMetadata, test_rows: np.ndarray, tmp_path: Path, params: dict[str, object]
) -> None:
    labels = np.arange(len(test_rows)) % 2
    train(test_rows, labels, params, 1).save_model(tmp_path / "other.ubj")
    with pytest.raises(ValueError, match=f"objective is {params['objective']}"):
        Predictor.load(tmp_path / "other.ubj", metadata, threads=1)


def test_early_stopping_serves_the_best_round_as_xgboost_does(
    metadata: ModelMetadata, test_rows: np.ndarray, tmp_path: Path
) -> None:
    data = load_sample_data(Features)
    model = xgb.XGBClassifier(n_estimators=60, early_stopping_rounds=3, learning_rate=0.5)
    model.fit(data.x_train, data.y_train, eval_set=[(data.x_test, data.y_test)], verbose=False)
    assert model.best_iteration < 59  # it did stop early, leaving later rounds in the file
    model.get_booster().save_model(tmp_path / "stopped.ubj")

    result = Predictor.load(tmp_path / "stopped.ubj", metadata, threads=1).predict(test_rows)

    assert result.probabilities is not None
    served = [p[(metadata.classes or [])[1]] for p in result.probabilities]
    np.testing.assert_allclose(served, model.predict_proba(test_rows)[:, 1], rtol=1e-6)
