import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.predictor import Predictor
from {{ cookiecutter.package_name }}.serving.loader import ModelLoadError, load_model
from {{ cookiecutter.package_name }}.serving.metadata import (
    ModelMetadata,
    file_version,
    metadata_path,
)
from {{ cookiecutter.package_name }}.serving.prediction import Predictions

from ..conftest import varied_rows


@pytest.fixture
def model_copy(model_path: Path, tmp_path: Path) -> Path:
    """A copy of the trained model and its metadata, free to damage."""
    copy = tmp_path / model_path.name
    shutil.copy(model_path, copy)
    shutil.copy(metadata_path(model_path), metadata_path(copy))
    return copy


def test_load_model_reads_the_model_and_its_metadata(
    model_path: Path, metadata: ModelMetadata
) -> None:
    loaded = load_model(model_path, threads=1)
    assert loaded.metadata == metadata


def test_missing_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.model"
    with pytest.raises(ModelLoadError, match="no such file") as error:
        load_model(missing, threads=1)
    assert str(missing) in str(error.value)


def test_corrupt_model_names_the_path_and_the_cause(model_copy: Path) -> None:
    model_copy.write_bytes(b"\x00this is not a model\xff" * 10)
    with pytest.raises(ModelLoadError) as error:
        load_model(model_copy, threads=1)
    assert str(model_copy) in str(error.value)
    assert error.value.cause


def test_missing_metadata_is_an_error(model_copy: Path) -> None:
    metadata_path(model_copy).unlink()
    with pytest.raises(ModelLoadError, match=r"metadata file .* does not exist"):
        load_model(model_copy, threads=1)


def test_invalid_metadata_names_the_field(model_copy: Path) -> None:
    meta = json.loads(metadata_path(model_copy).read_text())
    del meta["version"]
    metadata_path(model_copy).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="invalid at version"):
        load_model(model_copy, threads=1)


def test_metadata_written_for_another_model_file_is_refused(model_copy: Path) -> None:
    # Retrained, or replaced, without writing the metadata again: its classes and column order
    # may no longer be the model's.
    with model_copy.open("ab") as model_file:
        model_file.write(b" ")
    with pytest.raises(ModelLoadError, match="written for another model file") as error:
        load_model(model_copy, threads=1)
    assert file_version(model_copy) in error.value.cause


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"classes": ["benign", "benign"]}, "name a class twice"),
        ({"classes": None}, "a classifier's metadata names its classes, a regressor's none"),
        ({"task": "regression"}, "a classifier's metadata names its classes, a regressor's none"),
        ({"summary": {}}, "gives no median (p50) of "),
    ],
)
def test_inconsistent_metadata_is_refused_with_the_reason(
    model_copy: Path, change: dict[str, object], problem: str
) -> None:
    meta = json.loads(metadata_path(model_copy).read_text())
    metadata_path(model_copy).write_text(json.dumps(meta | change))
    with pytest.raises(ModelLoadError, match=re.escape(problem)):
        load_model(model_copy, threads=1)


def test_a_metadata_path_that_cannot_be_read_is_a_load_error(model_copy: Path) -> None:
    metadata_path(model_copy).unlink()
    metadata_path(model_copy).mkdir()
    with pytest.raises(ModelLoadError, match="cannot read the model file or its metadata file"):
        load_model(model_copy, threads=1)


def rename(meta: dict[str, Any], position: int, name: str) -> None:
    """Rename a feature in metadata as JSON, its summary too."""
    old = meta["features"][position]["name"]
    meta["features"][position]["name"] = name
    meta["summary"][name] = meta["summary"].pop(old)


def test_a_long_feature_name_is_cut_short_in_the_error(model_copy: Path) -> None:
    meta = json.loads(metadata_path(model_copy).read_text())
    rename(meta, 0, "x" * 100_000)
    metadata_path(model_copy).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="position 0") as error:
        load_model(model_copy, threads=1)
    assert len(error.value.cause) < 500


def test_metadata_with_another_feature_schema_is_refused(model_copy: Path) -> None:
    meta = json.loads(metadata_path(model_copy).read_text())
    rename(meta, 3, "renamed")
    metadata_path(model_copy).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="position 3"):
        load_model(model_copy, threads=1)


def test_metadata_of_another_framework_is_refused(model_copy: Path) -> None:
    meta = json.loads(metadata_path(model_copy).read_text())
    meta["framework"] = "other"
    metadata_path(model_copy).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="framework 'other'"):
        load_model(model_copy, threads=1)


def test_predictions_keep_row_order(model_path: Path, metadata: ModelMetadata) -> None:
    predictor = load_model(model_path, threads=1).predictor
    x = np.array(
        [[row[spec.name] for spec in metadata.features] for row in varied_rows(metadata, 20)]
    )
    forward = predictor.predict(x)
    backward = predictor.predict(x[::-1])
    assert forward.outputs == backward.outputs[::-1]
    assert forward.probabilities is not None
    for probabilities in forward.probabilities:
        assert set(probabilities) == set(metadata.classes or [])
        assert sum(probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (Predictions(outputs=[]), "the model returned 0 outputs for 1 rows"),
        (Predictions(outputs=[1j]), "ValidationError: 2 validation errors"),  # type: ignore[arg-type]
    ],
)
def test_a_predictor_whose_answer_cannot_be_served_fails_at_startup(
    model_path: Path, monkeypatch: pytest.MonkeyPatch, result: Predictions, problem: str
) -> None:
    monkeypatch.setattr(Predictor, "predict", lambda self, x: result)
    with pytest.raises(ModelLoadError, match=f"the warm-up prediction failed: .*{problem}"):
        load_model(model_path, threads=1)
