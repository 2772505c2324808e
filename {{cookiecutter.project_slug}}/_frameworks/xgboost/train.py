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

import numpy as np
import xgboost as xgb

from .predictor import Features, Predictor
from .sample_data import load_sample_data
from .serving.metadata import describe_model, metadata_path, write_metadata
from .settings import Settings


def train(output: Path, *, n_estimators: int = 200, max_depth: int = 6, seed: int = 0) -> Path:
    """Fit a gradient-boosted classifier, save it in XGBoost's UBJ format; return its path."""
    data = load_sample_data(Features, seed=seed)
    model = xgb.XGBClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=0.1,
        objective="binary:logistic",
        random_state=seed,
        n_jobs=1,
    )
    model.fit(data.x_train, data.y_train)
    accuracy = float(np.mean(model.predict(data.x_test) == data.y_test))

    output.parent.mkdir(parents=True, exist_ok=True)
    model.get_booster().save_model(output)
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
        "--if-missing",
        action="store_true",
        help="train only into the default path, when nothing is there (make run)",
    )
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=6)
    args = parser.parse_args(argv)
    if args.output.exists() or metadata_path(args.output).exists():
        if args.if_missing:
            return
        sys.exit(f"{args.output} or its metadata exists: remove it first, or choose --output")
    if args.if_missing and args.output != Settings.model_fields["model_path"].default:
        return
    path = train(args.output, n_estimators=args.n_estimators, max_depth=args.max_depth)
    print(f"saved {path} and its metadata")


if __name__ == "__main__":
    main()
