from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.metadata import ModelMetadata, read_metadata
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.train import train


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
def row(metadata: ModelMetadata) -> dict[str, float | int]:
    return metadata.example_row()
