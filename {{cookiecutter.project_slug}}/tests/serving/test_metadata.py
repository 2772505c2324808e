from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.serving.metadata import (
    ModelMetadata,
    feature_specs,
    metadata_path,
    summarize,
)


def test_summary_records_the_distribution_of_each_column() -> None:
    x = np.column_stack([np.arange(101, dtype=float), np.full(101, 3.0)])
    summary = summarize(x, ["ramp", "constant"])
    assert summary["ramp"].min == 0
    assert summary["ramp"].max == 100
    assert summary["ramp"].quantiles["p50"] == 50
    assert summary["ramp"].quantiles["p99"] == 99
    assert summary["ramp"].deciles == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert summary["constant"].std == 0


def test_summary_rejects_a_matrix_with_other_columns() -> None:
    with pytest.raises(ValueError, match="2 columns"):
        summarize(np.zeros((4, 3)), ["a", "b"])


def test_feature_specs_follow_declaration_order_and_types() -> None:
    class Row(BaseModel):
        b: float
        a: int

    assert [(s.name, s.type) for s in feature_specs(Row)] == [("b", "float"), ("a", "int")]


def test_feature_specs_reject_other_types() -> None:
    class Row(BaseModel):
        label: str

    with pytest.raises(TypeError, match="label"):
        feature_specs(Row)


def test_saved_metadata_matches_the_features_and_their_training_medians(
    metadata: ModelMetadata,
) -> None:
    assert [spec.name for spec in metadata.features] == list(Features.model_fields)
    row = metadata.example_row()
    assert list(row) == list(Features.model_fields)
    for name, value in row.items():
        assert metadata.summary[name].min <= value <= metadata.summary[name].max


def test_metadata_file_lies_beside_the_model() -> None:
    assert metadata_path(Path("models/model.bin")) == Path("models/model.metadata.json")
