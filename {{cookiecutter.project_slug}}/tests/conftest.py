"""Fixtures on a real model, trained once per session by the project's own training script.

Rows, columns and classes come from `Features` and the saved metadata, never from the sample's
feature names or task: after you put your own model in, these tests hold as they are.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata, read_metadata
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.train import train

Row = dict[str, float | int]
FEATURES = list(Features.model_fields)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model, trained once per test session on the sample data."""
    default = Settings(_env_file=None).model_path
    return train(tmp_path_factory.mktemp("model") / default.name)


@pytest.fixture(scope="session")
def metadata(model_path: Path) -> ModelMetadata:
    return read_metadata(model_path)


@pytest.fixture
def settings(model_path: Path) -> Settings:
    return Settings(model_path=model_path, log_format="json", _env_file=None)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of an app whose lifespan has run: the model is loaded."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def row(metadata: ModelMetadata) -> Row:
    return metadata.example_row()


def varied_rows(metadata: ModelMetadata, count: int, seed: int = 0) -> list[Row]:
    """`count` rows of values drawn between each feature's training p01 and p99."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        row: Row = {}
        for spec in metadata.features:
            quantiles = metadata.summary[spec.name].quantiles
            value = float(rng.uniform(quantiles["p01"], quantiles["p99"]))
            row[spec.name] = round(value) if spec.type == "int" else value
        rows.append(row)
    return rows


def assert_prediction(value: object, metadata: ModelMetadata) -> None:
    """A class of the model for a classifier, a number for a regressor."""
    if metadata.classes:
        assert value in metadata.classes
    else:
        assert isinstance(value, float)
