"""The data the sample model trains on: scikit-learn's breast cancer set, bundled, no download."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class SampleData:
    x_train: npt.NDArray[np.float64]
    x_test: npt.NDArray[np.float64]
    y_train: npt.NDArray[np.int64]
    y_test: npt.NDArray[np.int64]
    classes: list[str]


def load_sample_data(features: type[BaseModel], *, seed: int = 0) -> SampleData:
    """Split the data 80/20, after checking its columns are exactly `features`' fields."""
    data = load_breast_cancer()
    columns = [str(name).replace(" ", "_") for name in data.feature_names]
    if columns != list(features.model_fields):
        raise ValueError("the sample data's columns differ from the Features fields")
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=seed, stratify=data.target
    )
    return SampleData(
        x_train=x_train,
        x_test=x_test,
        y_train=y_train,
        y_test=y_test,
        classes=[str(name) for name in data.target_names],
    )
