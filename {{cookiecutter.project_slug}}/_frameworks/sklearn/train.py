"""Train the sample model and save it with its metadata.

    python -m {{ cookiecutter.package_name }}.train [--output PATH] [--if-missing]

PATH defaults to the model path setting, so the service finds the model where it looks. It never
writes over a model or a metadata file that exists. With --if-missing (`make run`) it trains only
into the default path, and only when neither file exists there: for any other path, the service
itself then says what is missing.
"""

import argparse
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .predictor import Features, Predictor
from .sample_data import load_sample_data
from .serving.metadata import describe_model, metadata_path, write_metadata
from .settings import Settings


def train(output: Path, *, max_iter: int = 1000, seed: int = 0) -> Path:
    """Fit a scaled logistic regression Pipeline, save it with joblib; return its path."""
    data = load_sample_data(Features, seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    model.fit(data.x_train, data.y_train)
    accuracy = float(np.mean(model.predict(data.x_test) == data.y_test))

    output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, output)
    metadata = describe_model(
        output,
        framework=Predictor.framework,
        features=Features,
        x_train=data.x_train,
        classes=data.classes,
        evaluation={"accuracy": accuracy},
    )
    write_metadata(output, metadata)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Settings().model_path)
    parser.add_argument(
        "--if-missing", action="store_true", help="train only into the default path, when nothing is there (make run)"
    )
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.output.exists() or metadata_path(args.output).exists():
        if args.if_missing:
            return
        sys.exit(f"{args.output} or its metadata exists: remove it first, or choose --output")
    if args.if_missing and args.output != Settings.model_fields["model_path"].default:
        return
    path = train(args.output, max_iter=args.max_iter)
    print(f"saved {path} and its metadata")


if __name__ == "__main__":
    main()
