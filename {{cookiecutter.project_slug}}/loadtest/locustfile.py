"""Load test of the service: `make loadtest` (headless, with targets) or the web UI.

Every request is valid and realistic: each row is drawn from the training-data summary saved
with the model (each feature's decile bins, equally likely, as in the training data). Only
predict requests are measured; the readiness wait happens outside locust's statistics.

Environment:
    {{ cookiecutter.env_prefix }}MODEL_PATH
                      the service's model path setting (`make loadtest` reads it, .env
                      included); the rows are drawn from the metadata file beside that model
    BATCH_ROWS        rows in each batch request (default 20)
    PROTOCOL          predict (default): POST /predict with named rows; v2: the same rows as
                      one [N, F] tensor to the Open Inference Protocol's /v2/models/NAME/infer
    P95_MS            target for the p95 latency of predict requests, in ms (default 100)
    MAX_ERROR_RATIO   target for the share of failed predict requests (default 0.01)
    SHIFT_FEATURE     a feature whose values are all moved by SHIFT_BY: drifted traffic, to see
                      the drift panels and alerts respond (default: none, no row is moved)
    SHIFT_BY          how far, in the feature's training standard deviations (default 1)
The run exits non-zero when a target is missed.
"""

import json
import os
import random
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

MODEL_PATH_SETTING = "{{ cookiecutter.env_prefix }}MODEL_PATH"
MODEL_PATH = Path(os.environ.get(MODEL_PATH_SETTING, "{{ cookiecutter._model_file[cookiecutter.model_framework] }}"))
METADATA_PATH = MODEL_PATH.with_suffix(".metadata.json")
BATCH_ROWS = int(os.environ.get("BATCH_ROWS", "20"))
PROTOCOL = os.environ.get("PROTOCOL", "predict")
if PROTOCOL not in ("predict", "v2"):
    raise SystemExit(f"PROTOCOL must be predict or v2, not {PROTOCOL!r}")
P95_MS = float(os.environ.get("P95_MS", "100"))
MAX_ERROR_RATIO = float(os.environ.get("MAX_ERROR_RATIO", "0.01"))
SHIFT_FEATURE = os.environ.get("SHIFT_FEATURE", "")
SHIFT_BY = float(os.environ.get("SHIFT_BY", "1"))
READY_TIMEOUT_SECONDS = 60


class RowSampler:
    """Draws rows whose features follow their training distribution, bin by decile bin; with
    `shift_feature`, that feature's values are moved by `shift_by` training standard deviations."""

    def __init__(
        self,
        metadata: dict[str, Any],
        seed: int | None = None,
        shift_feature: str = "",
        shift_by: float = 1.0,
    ) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - load generation, not security
        self._features = []
        names = [feature["name"] for feature in metadata["features"]]
        if shift_feature and shift_feature not in names:
            raise ValueError(f"SHIFT_FEATURE={shift_feature} is none of the features: {names}")
        for name, feature in zip(names, metadata["features"], strict=True):
            summary = metadata["summary"][name]
            edges = [summary["min"], *summary["deciles"], summary["max"]]
            shift = shift_by * summary["std"] if name == shift_feature else 0.0
            self._features.append((name, feature["type"], edges, shift))

    def row(self) -> dict[str, float | int]:
        row: dict[str, float | int] = {}
        for name, kind, edges, shift in self._features:
            low = self._rng.randrange(len(edges) - 1)
            value = self._rng.uniform(edges[low], edges[low + 1]) + shift
            row[name] = round(value) if kind == "int" else value
        return row

    def rows(self, count: int) -> list[dict[str, float | int]]:
        return [self.row() for _ in range(count)]


def wait_until_ready(host: str) -> None:
    """Poll the readiness route with plain urllib, so that it stays out of the statistics."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{host}/health/ready", timeout=5):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class ModelUser(HttpUser):
    wait_time = between(0.01, 0.05)
    sampler = RowSampler(json.loads(METADATA_PATH.read_text()), None, SHIFT_FEATURE, SHIFT_BY)

    def on_start(self) -> None:
        wait_until_ready(self.host or "")
        if PROTOCOL == "v2":  # its path names the model
            with urllib.request.urlopen(f"{self.host}/model", timeout=5) as answer:  # noqa: S310
                self.infer_path = f"/v2/models/{json.load(answer)['name']}/infer"

    def post(self, rows: list[dict[str, float | int]], label: str) -> None:
        if PROTOCOL == "predict":
            self.client.post("/predict", json={"instances": rows}, name=f"/predict {label}")
            return
        data = [value for row in rows for value in row.values()]  # in the metadata's order
        tensor = {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64"}
        body = {"inputs": [tensor | {"data": data}]}
        self.client.post(self.infer_path, json=body, name=f"/v2 infer {label}")

    @task(9)
    def predict_one_row(self) -> None:
        self.post([self.sampler.row()], "1 row")

    @task(1)
    def predict_a_batch(self) -> None:
        self.post(self.sampler.rows(BATCH_ROWS), f"{BATCH_ROWS} rows")


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def check_targets(environment: Environment, **_: Any) -> None:
    """Fail the run when the predict requests miss a target."""
    total = environment.stats.total
    p95 = total.get_response_time_percentile(0.95) or 0.0
    missed = []
    if total.num_requests == 0:
        missed.append("no predict request was made")
    if p95 > P95_MS:
        missed.append(f"p95 latency {p95:.1f} ms is above P95_MS={P95_MS:g}")
    if total.fail_ratio > MAX_ERROR_RATIO:
        missed.append(
            f"error ratio {total.fail_ratio:.4f} is above MAX_ERROR_RATIO={MAX_ERROR_RATIO:g}"
        )
    if environment.runner is not None and environment.runner.exceptions:
        missed.append("the load test's own code raised exceptions (see above)")
    for message in missed:
        print(f"TARGET MISSED: {message}")
    if missed:
        environment.process_exit_code = 1
    else:
        # Set, or locust would exit 1 on any failed request, whatever MAX_ERROR_RATIO allows.
        environment.process_exit_code = 0
        print(
            f"targets met: p95 {p95:.1f} ms <= {P95_MS:g} ms, "
            f"error ratio {total.fail_ratio:.4f} <= {MAX_ERROR_RATIO:g} "
            f"over {total.num_requests} requests"
        )
