"""The metadata file saved beside every model: feature schema, version and training summary
(whose medians make the warm-up row and the documented example)."""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, model_validator

from ..monitoring.bins import PredictionSummary, bin_shares, decile_edges, summarize_predictions

# The largest 32-bit float: tree models compute in float32 and turn a larger number silently
# into infinity; in a float64 pipeline, a number much larger overflows (1e308 / 0.01).
FLOAT32_MAX = 3.4028234663852886e38
# A feature that is a number: finite and within +-FLOAT32_MAX, or a 422 naming the field.
BoundedFloat = Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class FeatureSpec(BaseModel):
    name: str
    type: Literal["float", "int"]


class FeatureSummary(BaseModel):
    """Distribution of one feature in the training data."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float] = Field(description="Quantiles keyed p01, p05, ... p99.")
    deciles: list[float] = Field(description="The nine inner decile edges, for binning.")
    shares: list[float] = Field(default=[], description="Training share of each decile bin.")


class ModelMetadata(BaseModel):
    framework: str
    version: str
    trained_at: datetime
    task: Literal["classification", "regression"]
    classes: list[str] | None = Field(default=None, description="Class labels, by index.")
    features: list[FeatureSpec]
    summary: dict[str, FeatureSummary]
    evaluation: dict[str, float] = Field(default_factory=dict)
    predictions: PredictionSummary | None = None

    @model_validator(mode="after")
    def check_consistency(self) -> Self:
        """Classes for a classifier only, each once; a median for every feature."""
        if (self.task == "classification") != bool(self.classes):
            raise ValueError("a classifier's metadata names its classes, a regressor's none")
        if self.classes and len(set(self.classes)) != len(self.classes):
            raise ValueError(f"the classes {self.classes} name a class twice")
        for feature in self.features:
            if "p50" not in getattr(self.summary.get(feature.name), "quantiles", {}):
                raise ValueError(f"the summary gives no median (p50) of {clip(repr(feature.name))}")
        return self

    def example_row(self) -> dict[str, float | int]:
        """A realistic row: the training median of every feature."""
        row: dict[str, float | int] = {}
        for feature in self.features:
            median = self.summary[feature.name].quantiles["p50"]
            row[feature.name] = round(median) if feature.type == "int" else median
        return row


def clip(text: str, limit: int = 80) -> str:
    """`text` cut short: a metadata file or a request can hold a name of any length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def feature_specs(features: type[BaseModel]) -> list[FeatureSpec]:
    """The schema of a pydantic row model: its fields in declaration order, with their types."""
    types = {float: "float", int: "int"}
    specs = []
    for name, field in features.model_fields.items():
        if field.annotation not in types:
            message = f"feature {name!r} must be declared float or int, not {field.annotation}"
            raise TypeError(message)
        specs.append(FeatureSpec(name=name, type=types[field.annotation]))
    return specs


def summarize(x: npt.NDArray[np.floating], names: Sequence[str]) -> dict[str, FeatureSummary]:
    """Per-feature summary of a training matrix whose columns are `names`."""
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(f"expected a matrix with {len(names)} columns, got shape {x.shape}")
    summary = {}
    for column, name in zip(x.T, names, strict=True):
        summary[name] = FeatureSummary(
            count=int(column.size),
            mean=float(column.mean()),
            std=float(column.std()),
            min=float(column.min()),
            max=float(column.max()),
            quantiles={
                f"p{round(q * 100):02d}": float(value)
                for q, value in zip(QUANTILES, np.quantile(column, QUANTILES), strict=True)
            },
            deciles=[float(value) for value in np.quantile(column, np.arange(1, 10) / 10)],
            shares=bin_shares(column, decile_edges(column)),
        )
    return summary


def metadata_path(model_path: str | Path) -> Path:
    """Where the metadata of `model_path` lives: `model.<ext>` -> `model.metadata.json`."""
    return Path(model_path).with_suffix(".metadata.json")


def file_version(path: str | Path) -> str:
    """A version that changes whenever the model file does: the start of its SHA-256."""
    with Path(path).open("rb") as model_file:  # in chunks: a model can be larger than memory
        return hashlib.file_digest(model_file, "sha256").hexdigest()[:12]


def write_metadata(model_path: str | Path, metadata: ModelMetadata) -> None:
    metadata_path(model_path).write_text(metadata.model_dump_json(indent=2) + "\n")


def read_metadata(model_path: str | Path) -> ModelMetadata:
    return ModelMetadata.model_validate_json(metadata_path(model_path).read_bytes())


def describe_model(
    model_path: str | Path,
    *,
    framework: str,
    features: type[BaseModel],
    x_train: npt.NDArray[np.floating],
    classes: list[str] | None,
    evaluation: dict[str, float],
    predictions: npt.NDArray[np.floating] | None = None,
) -> ModelMetadata:
    """The metadata of a model just saved at `model_path` and trained on `x_train`; with the
    model's `predictions` on it (a classifier's `predict_proba`), for prediction shift."""
    specs = feature_specs(features)
    return ModelMetadata(
        framework=framework,
        version=file_version(model_path),
        trained_at=datetime.now(UTC),
        task="classification" if classes else "regression",
        classes=classes,
        features=specs,
        summary=summarize(x_train, [spec.name for spec in specs]),
        evaluation=evaluation,
        predictions=None if predictions is None else summarize_predictions(predictions, classes),
    )
