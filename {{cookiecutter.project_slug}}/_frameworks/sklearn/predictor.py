"""The served model's features, loading and prediction (README.md, "Serve your own model")."""

from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from .serving.metadata import BoundedFloat, ModelMetadata
from .serving.prediction import Matrix, Predictions


class Features(BaseModel):
    """One row of model input. Declaration order is the model's column order."""

    # strict: "1.5" is an error rather than 1.5; extra="forbid": unknown features are errors.
    # BoundedFloat: a finite number within +-3.4e38 (metadata.py says why).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    mean_radius: BoundedFloat
    mean_texture: BoundedFloat
    mean_perimeter: BoundedFloat
    mean_area: BoundedFloat
    mean_smoothness: BoundedFloat
    mean_compactness: BoundedFloat
    mean_concavity: BoundedFloat
    mean_concave_points: BoundedFloat
    mean_symmetry: BoundedFloat
    mean_fractal_dimension: BoundedFloat
    radius_error: BoundedFloat
    texture_error: BoundedFloat
    perimeter_error: BoundedFloat
    area_error: BoundedFloat
    smoothness_error: BoundedFloat
    compactness_error: BoundedFloat
    concavity_error: BoundedFloat
    concave_points_error: BoundedFloat
    symmetry_error: BoundedFloat
    fractal_dimension_error: BoundedFloat
    worst_radius: BoundedFloat
    worst_texture: BoundedFloat
    worst_perimeter: BoundedFloat
    worst_area: BoundedFloat
    worst_smoothness: BoundedFloat
    worst_compactness: BoundedFloat
    worst_concavity: BoundedFloat
    worst_concave_points: BoundedFloat
    worst_symmetry: BoundedFloat
    worst_fractal_dimension: BoundedFloat


class Predictor:
    """A scikit-learn classifier or Pipeline saved with joblib.

    joblib files are pickles: loading one runs code, so serve only files you built yourself.
    """

    framework: ClassVar[str] = "sklearn"

    def __init__(self, estimator: Any, classes: list[str]) -> None:
        self._estimator = estimator
        self._classes = classes

    @classmethod
    def load(cls, path: Path, metadata: ModelMetadata, *, threads: int) -> Self:
        # One worker process per core by default: more BLAS/OpenMP threads would
        # oversubscribe the CPU.
        threadpool_limits(limits=threads)
        estimator = joblib.load(path)
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(f"{type(estimator).__name__} has no predict_proba method")
        if not metadata.classes or len(metadata.classes) != len(estimator.classes_):
            raise ValueError("the metadata must name one class per estimator class")
        return cls(estimator, metadata.classes)

    def predict(self, x: Matrix) -> Predictions:
        """Predict the rows of `x`: one per instance, the Features columns in their order."""
        proba = self._estimator.predict_proba(x)
        return Predictions(
            outputs=[self._classes[i] for i in proba.argmax(axis=1)],
            probabilities=[dict(zip(self._classes, p, strict=True)) for p in proba.tolist()],
        )
