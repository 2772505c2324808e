"""Load the model and its metadata once, check them against the code, and warm the model up."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..predictor import Features, Predictor
from .metadata import ModelMetadata, clip, feature_specs, file_version, metadata_path, read_metadata
from .prediction import Predictions, to_matrix

SERVABLE = TypeAdapter(Predictions)


class ModelLoadError(Exception):
    """The model at `path` cannot be served, for the reason in `cause`."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot load model {path}: {cause}")
        self.path = path
        self.cause = cause


class ModelNotReadyError(Exception):
    """No model to predict with: not loaded yet, or the service is stopping (a 503)."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    predictor: Predictor
    metadata: ModelMetadata
    loaded_at: datetime


def load_model(path: Path, *, threads: int) -> LoadedModel:
    """Load the model at `path` and run one prediction; raise ModelLoadError on any failure."""
    if not path.is_file():
        raise ModelLoadError(path, "no such file")
    metadata = read_checked_metadata(path)
    try:
        predictor = Predictor.load(path, metadata, threads=threads)
    except Exception as error:
        raise ModelLoadError(path, first_line(error)) from error
    try:
        example = Features.model_validate(metadata.example_row())
        result = predictor.predict(to_matrix([example], len(Features.model_fields)))
        result.check_count(1)
        # Labels and numbers that the response can carry, checked as it will check them.
        SERVABLE.validate_python({"outputs": result.outputs, "probabilities": result.probabilities})
    except Exception as error:
        raise ModelLoadError(path, f"the warm-up prediction failed: {first_line(error)}") from error
    return LoadedModel(predictor=predictor, metadata=metadata, loaded_at=datetime.now(UTC))


def read_checked_metadata(path: Path) -> ModelMetadata:
    meta_path = metadata_path(path)
    how_to = "write it with write_metadata() (README.md, 'Serve your own model')"
    try:
        metadata = read_metadata(path)
        version = file_version(path)
    except FileNotFoundError:
        raise ModelLoadError(
            path, f"its metadata file {meta_path} does not exist: {how_to}"
        ) from None
    except OSError as error:  # a folder, a file it may not read
        raise ModelLoadError(
            path, f"cannot read the model file or its metadata file: {error}"
        ) from None
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "(root)"
        raise ModelLoadError(
            path, f"its metadata file {meta_path} is invalid at {field}: {problem['msg']}"
        ) from error
    # The model file names neither its features nor its classes: metadata written for another
    # file would pass every check below and serve wrong labels, or values in the wrong columns.
    if metadata.version != version:
        raise ModelLoadError(
            path,
            f"its metadata file {meta_path} was written for another model file (version "
            f"{metadata.version}, this file's is {version}): {how_to}",
        )
    if metadata.framework != Predictor.framework:
        raise ModelLoadError(
            path,
            f"its metadata says framework {metadata.framework!r}, "
            f"but predictor.py serves {Predictor.framework!r}",
        )
    expected = [(spec.name, spec.type) for spec in feature_specs(Features)]
    recorded = [(spec.name, spec.type) for spec in metadata.features]
    if recorded != expected:
        for position, (got, want) in enumerate(zip(recorded, expected, strict=False)):
            if got != want:
                there, here = clip(repr(got)), clip(repr(want))
                difference = f"position {position} is {there} in the metadata, {here} in the code"
                break
        else:
            difference = f"the {'metadata' if len(recorded) < len(expected) else 'code'} has fewer"
        raise ModelLoadError(
            path,
            f"the feature schema in {meta_path} ({len(recorded)} features) differs from "
            f"predictor.Features ({len(expected)} features): {difference}",
        )
    return metadata


def first_line(error: BaseException) -> str:
    """The exception's type and the first line of its message (native errors carry traces)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
