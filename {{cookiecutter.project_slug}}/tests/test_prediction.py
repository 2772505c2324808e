"""The matrix a predictor gets, built from validated rows (prediction.py)."""

import sys

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.prediction import matrix_of

# Values as validated rows hold them: floats of every kind, and ints, exact or not as floats.
VALUES: list[float] = [
    0.0, -0.0, 1.5, -2.25, 0.1, 1e-310, 5e-324, sys.float_info.max, -sys.float_info.max,
    float("inf"), float("-inf"), 3.4028234663852886e38, 0, 1, -7, 2**53, 2**53 + 1, 2**62 + 1,
    -(2**63), 10**300, 123456789123456789,
]  # fmt: skip


def test_each_value_is_converted_as_float_would() -> None:
    width = 3
    values = VALUES[: len(VALUES) // width * width]
    rows = [tuple(values[start : start + width]) for start in range(0, len(values), width)]
    x = matrix_of(rows, width)
    expected = np.array([[float(value) for value in row] for row in rows], dtype=np.float64)
    assert x.dtype == np.float64
    assert x.shape == (len(rows), width)
    assert x.flags.c_contiguous
    assert x.flags.writeable
    assert x.tobytes() == expected.tobytes()  # bit for bit: -0.0 stays negative


def test_rows_are_read_in_order_whatever_their_kind() -> None:
    rows = [{"a": 1.0, "b": 2}.values(), (3, 4.5), [5.0, -6]]
    assert matrix_of(rows, 2).tolist() == [[1.0, 2.0], [3.0, 4.5], [5.0, -6.0]]


def test_no_rows_make_an_empty_matrix() -> None:
    assert matrix_of([], 30).shape == (0, 30)


def test_an_int_no_float_holds_is_an_overflow() -> None:
    with pytest.raises(OverflowError):
        matrix_of([(1.0, 2.0), (3.0, 10**400)], 2)


@pytest.mark.parametrize(
    ("rows", "wrong"),
    [
        ([(1.0, 2.0), (3.0,)], "row 1 has 1 values, not 2"),
        ([(1.0, 2.0, 3.0)], "row 0 has 3 values, not 2"),
        # As many values in all as the matrix holds: without the check, 3.0 would move to row 1.
        ([(1.0, 2.0, 3.0), (4.0,)], "row 0 has 3 values, not 2"),
    ],
)
def test_rows_of_the_wrong_width_are_refused(rows: list[tuple[float, ...]], wrong: str) -> None:
    with pytest.raises(ValueError, match=wrong):
        matrix_of(rows, 2)
