"""The model this service serves: its input features, how to load it and how to predict.

This is the one module to edit to serve your own XGBoost model; README.md walks through it.
The service validates every request row against `Features`, hands `Predictor.predict` the
rows as a matrix whose columns are its fields in declaration order, and refuses to start when the
model's metadata file records a different feature schema.
"""

import json
from pathlib import Path
from typing import ClassVar, Self

import xgboost as xgb
from pydantic import BaseModel, ConfigDict

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
    """An XGBoost classifier, binary or multi-class (multi:softprob), saved in XGBoost's own
    format (JSON or UBJ, never pickle)."""

    framework: ClassVar[str] = "xgboost"

    def __init__(self, booster: xgb.Booster, classes: list[str]) -> None:
        self._booster = booster
        self._classes = classes

    @classmethod
    def load(cls, path: Path, metadata: ModelMetadata, *, threads: int) -> Self:
        booster = xgb.Booster(model_file=path)
        best = booster.attr("best_iteration")
        if best is not None:
            # Trained with early stopping: the file keeps the rounds after the best one, which
            # XGBClassifier.predict_proba (and so the evaluation in the metadata) leaves out.
            booster = booster[: int(best) + 1]
        # One worker process per core by default: more threads would oversubscribe the CPU.
        booster.set_param({"nthread": threads})
        classes = metadata.classes or []
        expected = class_count(booster)
        if len(classes) != expected:
            raise ValueError(
                f"the model predicts {expected} classes; the metadata names {len(classes)}"
            )
        return cls(booster, classes)

    def predict(self, x: Matrix) -> Predictions:
        """Predict the rows of `x`: one per instance, the Features columns in their order."""
        if not len(x):
            return Predictions(outputs=[], probabilities=[])
        # inplace_predict: no DMatrix to build, thread-safe. XGBoost computes in float32.
        scores = self._booster.inplace_predict(x)
        if scores.ndim == 2:  # a probability per class
            return Predictions(
                outputs=[self._classes[i] for i in scores.argmax(axis=1)],
                probabilities=[dict(zip(self._classes, p, strict=True)) for p in scores.tolist()],
            )
        # The positive class's probability. Per row in Python: for a binary model that is
        # several times cheaper than building a matrix of both classes (8 us for 100 rows,
        # against 40). A tie goes to the first class, as argmax would have it.
        negative, positive = self._classes
        positives = scores.tolist()
        return Predictions(
            outputs=[positive if p > 0.5 else negative for p in positives],
            probabilities=[{negative: 1.0 - p, positive: p} for p in positives],
        )

    def explain(self, x: Matrix) -> Matrix:
        """XGBoost's exact tree SHAP values of the rows of `x`, shaped (rows, classes, features +
        1): per class (1: the positive one of a binary model), each feature's contribution to the
        margin, and the bias last; they add up to the margin."""
        return self._booster.predict(xgb.DMatrix(x), pred_contribs=True, strict_shape=True)


def class_count(booster: xgb.Booster) -> int:
    """How many classes the booster gives a probability for, read from its objective."""
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    if objective == "binary:logistic":
        return 2
    if objective == "multi:softprob":
        return int(learner["learner_model_param"]["num_class"])
    raise ValueError(
        f"the model's objective is {objective}, which gives no class probabilities: "
        "Predictor serves binary:logistic and multi:softprob; adapt it to serve others"
    )
