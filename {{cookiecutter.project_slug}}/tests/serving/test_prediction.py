"""The matrix a predictor gets, and the count of its answers (serving/prediction.py)."""

import numpy as np
import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.serving.prediction import Predictions, to_matrix


class Row(BaseModel):
    b: float
    a: int


def test_rows_become_columns_in_declaration_order_as_float64() -> None:
    x = to_matrix([Row(b=1.5, a=2), Row(a=-7, b=-0.0)], width=2)
    assert x.dtype == np.float64
    assert x.flags.c_contiguous
    assert x.tolist() == [[1.5, 2.0], [-0.0, -7.0]]
    assert np.signbit(x[1, 0])  # -0.0 stays negative


def test_no_rows_make_an_empty_matrix() -> None:
    assert to_matrix([], width=30).shape == (0, 30)


def test_an_int_no_float_holds_is_an_overflow() -> None:
    with pytest.raises(OverflowError):
        to_matrix([Row(b=1.0, a=10**400)], width=2)


@pytest.mark.parametrize(
    "predictions",
    [
        Predictions(outputs=["a"], probabilities=[{"a": 1.0}, {"a": 1.0}]),
        Predictions(outputs=["a", "b", "c"], probabilities=[{"a": 1.0}, {"a": 1.0}]),
        Predictions(outputs=[1.0]),
    ],
)
def test_a_count_of_answers_other_than_the_rows_is_an_error(predictions: Predictions) -> None:
    with pytest.raises(ValueError, match="for 2 rows"):
        predictions.check_count(2)


def test_split_gives_each_request_its_own_rows() -> None:
    whole = Predictions(outputs=["a", "b", "c"], probabilities=[{"a": 1.0}, {"b": 1.0}, {"c": 1.0}])
    first, second = whole.split([1, 2])
    assert first == Predictions(["a"], [{"a": 1.0}])
    assert second == Predictions(["b", "c"], [{"b": 1.0}, {"c": 1.0}])
    with pytest.raises(ValueError, match="for 4 rows"):
        whole.split([2, 2])
