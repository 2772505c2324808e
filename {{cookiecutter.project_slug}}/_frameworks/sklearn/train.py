"""Train the sample model and save it with its metadata: the script to replace with your own.
It writes to the model path setting or --output, never over a file; with --if-missing (`make
run`), only into the default path and when neither file is there."""

import argparse
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .predictor import Features, Predictor
from .serving.metadata import describe_model, metadata_path, write_metadata
from .settings import Settings


def train(output: Path, *, seed: int = 0) -> Path:
    """Fit a scaled logistic regression Pipeline, save it with joblib; return its path."""
    # scikit-learn's bundled breast cancer data (no download): its columns are Features' fields.
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=seed, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    accuracy = float(np.mean(model.predict(x_test) == y_test))
    output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, output)
    metadata = describe_model(
        output,
        framework=Predictor.framework,
        features=Features,
        x_train=x_train,
        classes=[str(name) for name in data.target_names],
        evaluation={"accuracy": accuracy},
        predictions=model.predict_proba(x_train),
    )
    write_metadata(output, metadata)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Settings().model_path)
    parser.add_argument("--if-missing", action="store_true", help="see the module docstring")
    args = parser.parse_args(argv)
    if args.output.exists() or metadata_path(args.output).exists():
        if args.if_missing:
            return
        sys.exit(f"{args.output} or its metadata exists: remove it first, or choose --output")
    if args.if_missing and args.output != Settings.model_fields["model_path"].default:
        return
    print(f"saved {train(args.output)} and its metadata")


if __name__ == "__main__":
    main()
