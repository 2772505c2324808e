"""The served model's features, loading and prediction (README.md, "Serve your own model")."""

import json
from pathlib import Path
from typing import ClassVar, Self

import xgboost as xgb
from pydantic import BaseModel, ConfigDict

from .serving.metadata import BoundedFloat, ModelMetadata
from .serving.prediction import Matrix, Predictions


class Features(BaseModel):
    """One row of model input. Declaration order is the model's column order."""

    # "1.5" is an error, not 1.5; so are unknown features. BoundedFloat: see metadata.py.
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
    """An XGBoost classifier (binary, or multi:softprob) in XGBoost's JSON or UBJ, never pickle."""

    framework: ClassVar[str] = "xgboost"

    def __init__(self, booster: xgb.Booster, classes: list[str]) -> None:
        self._booster = booster
        self._classes = classes

    @classmethod
    def load(cls, path: Path, metadata: ModelMetadata, *, threads: int) -> Self:
        booster = xgb.Booster(model_file=path)
        best = booster.attr("best_iteration")
        if best is not None:
            # Early stopping: the file keeps rounds past the best, which predict_proba leaves out.
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
        # The positive class's probability: per row in Python, cheaper than a matrix of both
        # classes. A tie goes to the first class, as argmax would have it.
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
    if objective not in ("binary:logistic", "multi:softprob"):
        raise ValueError(
            f"the model's objective is {objective}, which gives no class probabilities: "
            "Predictor serves binary:logistic and multi:softprob; adapt it to serve others"
        )
    return 2 if objective == "binary:logistic" else int(learner["learner_model_param"]["num_class"])
