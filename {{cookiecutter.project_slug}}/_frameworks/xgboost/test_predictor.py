"""The Predictor: the booster's own probabilities, each labelled with its class."""

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from {{ cookiecutter.package_name }}.predictor import Features, Predictor
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata

from .conftest import varied_rows

CLASSES = ["first", "second", "third"]


@pytest.fixture(scope="module")
def test_rows(metadata: ModelMetadata) -> np.ndarray:
    rows = varied_rows(metadata, 200)
    return np.array([[row[name] for name in Features.model_fields] for row in rows])


def train(x: np.ndarray, labels: np.ndarray, params: dict[str, object], rounds: int) -> xgb.Booster:
    return xgb.train(params, xgb.DMatrix(x, label=labels), num_boost_round=rounds)


def test_the_served_model_gives_the_boosters_probabilities(
    model_path: Path, metadata: ModelMetadata, test_rows: np.ndarray
) -> None:
    scores = xgb.Booster(model_file=model_path).inplace_predict(test_rows)
    if scores.ndim == 1:  # binary: the positive class's probability
        scores = np.column_stack([1.0 - scores, scores])

    result = Predictor.load(model_path, metadata, threads=1).predict(test_rows)

    classes = metadata.classes or []
    assert result.outputs == [classes[i] for i in scores.argmax(axis=1)]
    assert result.probabilities is not None
    served = np.array([[p[label] for label in classes] for p in result.probabilities])
    np.testing.assert_allclose(served, scores, rtol=1e-6)


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
    expected = booster.inplace_predict(test_rows)

    result = Predictor(booster, CLASSES).predict(test_rows)

    assert result.outputs == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert result.probabilities == [dict(zip(CLASSES, p, strict=True)) for p in expected.tolist()]


def test_no_rows_give_no_predictions(model_path: Path, metadata: ModelMetadata) -> None:
    predictor = Predictor.load(model_path, metadata, threads=1)
    result = predictor.predict(np.empty((0, len(Features.model_fields))))
    assert (result.outputs, result.probabilities) == ([], [])


def test_a_class_count_other_than_the_models_is_refused(
    model_path: Path, metadata: ModelMetadata, test_rows: np.ndarray, tmp_path: Path
) -> None:
    classes = metadata.classes or []
    more = metadata.model_copy(update={"classes": [*classes, "another"]})
    with pytest.raises(
        ValueError, match=f"predicts {len(classes)} classes; the metadata names {len(classes) + 1}"
    ):
        Predictor.load(model_path, more, threads=1)

    labels = np.arange(len(test_rows)) % 3
    train(test_rows, labels, {"objective": "multi:softprob", "num_class": 3}, 1).save_model(
        tmp_path / "three.ubj"
    )
    two = metadata.model_copy(update={"classes": CLASSES[:2]})
    with pytest.raises(ValueError, match="the model predicts 3 classes; the metadata names 2"):
        Predictor.load(tmp_path / "three.ubj", two, threads=1)
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
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, len(test_rows))  # noise: validation loss soon rises
    model = xgb.XGBClassifier(n_estimators=60, early_stopping_rounds=3, learning_rate=0.5)
    half = len(test_rows) // 2
    model.fit(
        test_rows[:half], labels[:half], eval_set=[(test_rows[half:], labels[half:])], verbose=False
    )
    assert model.best_iteration < 59  # it did stop early, leaving later rounds in the file
    model.get_booster().save_model(tmp_path / "stopped.ubj")
    binary = metadata.model_copy(update={"classes": CLASSES[:2]})

    result = Predictor.load(tmp_path / "stopped.ubj", binary, threads=1).predict(test_rows)

    assert result.probabilities is not None
    served = [p["second"] for p in result.probabilities]
    np.testing.assert_allclose(served, model.predict_proba(test_rows)[:, 1], rtol=1e-6)


def assert_adds_up_to_the_margin(booster: xgb.Booster, predictor: Predictor, x: np.ndarray) -> None:
    """Per row and class, the contributions and the bias add up to XGBoost's raw margin."""
    margin = booster.predict(xgb.DMatrix(x), output_margin=True, strict_shape=True)
    explained = predictor.explain(x)
    assert explained.shape == (*margin.shape, x.shape[1] + 1)  # the bias last
    np.testing.assert_allclose(explained.sum(axis=2), margin, rtol=1e-5, atol=1e-5)


def test_contributions_and_bias_add_up_to_the_margin(
    model_path: Path, metadata: ModelMetadata, test_rows: np.ndarray
) -> None:
    predictor = Predictor.load(model_path, metadata, threads=1)
    assert_adds_up_to_the_margin(xgb.Booster(model_file=model_path), predictor, test_rows)


def test_a_multi_class_model_explains_each_class(test_rows: np.ndarray) -> None:
    labels = np.arange(len(test_rows)) % 3
    booster = train(test_rows, labels, {"objective": "multi:softprob", "num_class": 3}, 5)
    predictor = Predictor(booster, CLASSES)
    assert_adds_up_to_the_margin(booster, predictor, test_rows)
    assert predictor.explain(test_rows).shape[1] == len(CLASSES)


def test_explanations_leave_out_the_rounds_after_the_best(
    metadata: ModelMetadata, test_rows: np.ndarray, tmp_path: Path
) -> None:
    labels = np.random.default_rng(0).integers(0, 2, len(test_rows))
    model = xgb.XGBClassifier(n_estimators=60, early_stopping_rounds=3, learning_rate=0.5)
    half = len(test_rows) // 2
    model.fit(
        test_rows[:half], labels[:half], eval_set=[(test_rows[half:], labels[half:])], verbose=False
    )
    model.get_booster().save_model(tmp_path / "stopped.ubj")
    binary = metadata.model_copy(update={"classes": CLASSES[:2]})
    predictor = Predictor.load(tmp_path / "stopped.ubj", binary, threads=1)
    best = model.get_booster()[: model.best_iteration + 1]
    assert_adds_up_to_the_margin(best, predictor, test_rows)
