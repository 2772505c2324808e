"""BoosterPredict gives exactly what Booster.inplace_predict gives."""

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from {{ cookiecutter.package_name }}.booster_predict import BoosterPredict


@pytest.fixture(scope="module")
def booster(model_path: Path) -> xgb.Booster:
    """The sample model: a binary classifier of 30 features."""
    return xgb.Booster(model_file=model_path)


def train(params: dict[str, Any], labels: np.ndarray, features: int = 4) -> xgb.Booster:
    x = np.random.default_rng(0).normal(size=(len(labels), features))
    return xgb.train(params, xgb.DMatrix(x, label=labels), num_boost_round=5)


def matrix(rows: int, columns: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, columns)).astype(np.float32)


@pytest.mark.parametrize("rows", [1, 7, 100, 1000])
def test_the_sample_model_predicts_as_inplace_predict_does(booster: xgb.Booster, rows: int) -> None:
    x = matrix(rows, booster.num_features(), seed=rows) * 50
    x[::3, ::4] = np.nan  # missing values, which take each split's default branch
    x[1::3, ::5] = 0.0  # and zeros, which are values, not missing ones
    predicted = BoosterPredict(booster)(x)
    assert predicted.dtype == np.float32
    np.testing.assert_array_equal(predicted, booster.inplace_predict(x))


def test_no_rows_give_no_predictions(booster: xgb.Booster) -> None:
    x = matrix(0, booster.num_features(), seed=0)
    # One prediction per row, as for one row or many. (inplace_predict gives (0,) up to
    # xgboost 3.3, and (0, 0) since.)
    assert BoosterPredict(booster)(x).shape == (0,)
    assert booster.inplace_predict(x).size == 0


@pytest.mark.parametrize(
    ("params", "labels", "shape"),
    [
        ({"objective": "multi:softprob", "num_class": 3}, np.arange(60) % 3, (9, 3)),
        ({"objective": "multi:softmax", "num_class": 3}, np.arange(60) % 3, (9,)),
        ({"objective": "binary:logitraw"}, np.arange(60) % 2, (9,)),
        ({"objective": "reg:squarederror"}, np.linspace(0, 1, 60), (9,)),
        ({"objective": "count:poisson"}, np.arange(60) % 7, (9,)),
    ],
)
def test_other_model_shapes_predict_as_inplace_predict_does(
    params: dict[str, Any], labels: np.ndarray, shape: tuple[int, ...]
) -> None:
    booster = train(params, labels)
    x = matrix(9, 4, seed=1)
    predicted = BoosterPredict(booster)(x)
    assert predicted.shape == shape
    np.testing.assert_array_equal(predicted, booster.inplace_predict(x))


def layouts(x: np.ndarray) -> dict[str, np.ndarray]:
    """The same values of `x`, laid out in memory in other ways."""
    wide = np.repeat(x, 2, axis=1)
    return {
        "float32, strided": wide[:, ::2],
        "float32, Fortran order": np.asfortranarray(x),
        "float64": x.astype(np.float64),
        "float64, strided": wide.astype(np.float64)[:, ::2],
        "int64": np.round(x).astype(np.int64),
    }


def test_any_layout_of_numbers_predicts_as_inplace_predict_does(booster: xgb.Booster) -> None:
    predict = BoosterPredict(booster)
    x = matrix(20, booster.num_features(), seed=2) * 50
    for name, laid_out in layouts(x).items():
        expected = booster.inplace_predict(laid_out)
        np.testing.assert_array_equal(predict(laid_out), expected, err_msg=name)


def test_numbers_beyond_float32_are_infinite_as_in_xgboost(booster: xgb.Booster) -> None:
    x = matrix(3, booster.num_features(), seed=6).astype(np.float64)
    x[:, 0] = [1e39, -1e39, 1e300]
    np.testing.assert_array_equal(BoosterPredict(booster)(x), booster.inplace_predict(x))


def test_a_matrix_of_strings_is_refused(booster: xgb.Booster) -> None:
    with pytest.raises(TypeError, match="a matrix of numbers"):
        BoosterPredict(booster)(np.full((1, booster.num_features()), "1.5"))


def test_a_result_is_not_overwritten_by_the_next_call(booster: xgb.Booster) -> None:
    predict = BoosterPredict(booster)
    first_x, second_x = matrix(5, 30, seed=3), matrix(5, 30, seed=4) * 100
    expected = booster.inplace_predict(first_x).copy()
    first = predict(first_x)
    predict(second_x)  # XGBoost writes this call's results where it wrote the first's
    np.testing.assert_array_equal(first, expected)


def test_a_matrix_of_the_wrong_width_is_refused(booster: xgb.Booster) -> None:
    with pytest.raises(ValueError, match=r"30 columns, got one of shape \(2, 29\)"):
        BoosterPredict(booster)(matrix(2, 29, seed=5))


def test_threads_predicting_at_once_each_get_their_own_results(booster: xgb.Booster) -> None:
    predict = BoosterPredict(booster)
    inputs = [matrix(1 + i % 5, 30, seed=10 + i) * 30 for i in range(8)]
    expected = [booster.inplace_predict(x) for x in inputs]
    wrong: list[str] = []
    start = threading.Barrier(len(inputs))

    def run(i: int) -> None:
        start.wait()
        for _ in range(300):
            try:
                if not np.array_equal(predict(inputs[i]), expected[i]):
                    wrong.append(f"thread {i}: another result")
            except xgb.core.XGBoostError as error:  # a matrix changed under XGBoost's feet
                wrong.append(f"thread {i}: {error}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
