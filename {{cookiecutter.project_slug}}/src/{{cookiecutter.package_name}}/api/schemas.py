from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..predictor import Features
from ..serving.metadata import FeatureSpec


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[Features] = Field(
        min_length=1,
        # Stop at the first invalid row: a thousand empty rows are one row's problems.
        fail_fast=True,
        description="Rows to predict: each maps every feature name to its value.",
    )


class PredictResponse(BaseModel):
    predictions: list[str] | list[float] = Field(
        description="One prediction per row, in request order: a class label or a number."
    )
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="For classifiers: each class's probability, per row."
    )
    model_name: str
    model_version: str
    request_id: str


class ModelInfo(BaseModel):
    name: str
    version: str
    framework: str
    task: str
    classes: list[str] | None
    features: list[FeatureSpec]
    trained_at: datetime
    loaded_at: datetime


class Problem(BaseModel):
    field: str = Field(description='Where: "instances[0].mean_radius", "body", a header\'s name.')
    message: str


class ErrorResponse(BaseModel):
    """The body of every error the service returns (api/errors.py)."""

    detail: str
    errors: list[Problem] = Field(description="The first 50 problems, each with its field.")
    request_id: str | None
