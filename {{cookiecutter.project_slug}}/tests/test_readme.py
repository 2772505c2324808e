"""The README's commands work as written."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.predictor import Predictor
from {{ cookiecutter.package_name }}.serving.loader import load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata

from .conftest import FEATURES, varied_rows
from .servers import PREFIX, start_gunicorn, stop

README = Path(__file__).parents[1] / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    """Each Python example, unindented (one sits in a numbered list)."""
    pattern = re.compile(r"^ *```python\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(block) for block in pattern.findall(README.read_text())]


@pytest.mark.parametrize("as_text", [True, False], ids=["str", "Path"])
def test_the_metadata_example_writes_metadata_the_service_accepts(
    tmp_path: Path, model_path: Path, metadata: ModelMetadata, as_text: bool
) -> None:
    (example,) = [block for block in python_blocks() if "write_metadata(" in block]
    copy = tmp_path / model_path.name
    shutil.copy(model_path, copy)
    rows = varied_rows(metadata, 20)
    namespace: dict[str, Any] = {
        "model_path": str(copy) if as_text else copy,
        "x_train": np.array([[row[name] for name in FEATURES] for row in rows]),
        "classes": metadata.classes,
        "accuracy": 0.9,
        # As predict_proba gives them, or a regressor's predict: equal shares, or zeros.
        "predictions": np.full((20, len(metadata.classes)), 1 / len(metadata.classes))
        if metadata.classes
        else np.zeros(20),
    }
    exec(example, namespace)  # noqa: S102 - the README's own example
    loaded = load_model(copy, threads=1).metadata
    assert loaded.features == metadata.features
    assert loaded.predictions is not None


def test_the_authentication_example_guards_every_route(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (example,) = [block for block in python_blocks() if "check_api_key" in block]
    monkeypatch.setenv(f"{PREFIX}MODEL_PATH", str(model_path))
    namespace: dict[str, Any] = {}
    exec(example, namespace)  # noqa: S102 - the README's own example
    with TestClient(namespace["app"]) as client:
        assert client.get("/model").status_code == 401
        assert client.get("/model", headers={"X-API-Key": "secret"}).status_code == 200


def run_example(marker: str, tmp_path: Path, model_path: Path) -> tuple[str, str]:
    """The README's shell block that holds `marker`, and what it printed against the service."""
    # In a shell as the reader's: without this project's virtualenv, whose python is no help.
    venv_bin = Path(sys.prefix) / "bin"
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if Path(entry) != venv_bin
    )
    bash = shutil.which("bash", path=path)
    if bash is None or not all(shutil.which(tool, path=path) for tool in ("curl", "python3")):
        pytest.skip("the example needs bash, curl and python3")
    (example,) = [block for block in shell_blocks() if marker in block]
    server = start_gunicorn(tmp_path, model_path, workers=1)
    try:
        server.wait_for_ready_workers(1)
        result = subprocess.run(
            [bash, "-c", example.replace("localhost:8000", f"127.0.0.1:{server.port}")],
            env={**os.environ, "PATH": path},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        assert stop(server) == 0
    assert result.returncode == 0, result.stderr
    return example, result.stdout


def test_the_predict_example_returns_a_prediction(tmp_path: Path, model_path: Path) -> None:
    _, output = run_example("localhost:8000/predict", tmp_path, model_path)
    answer = json.loads(output)
    assert len(answer["predictions"]) == 1
    assert answer["model_version"]


def test_the_protocol_examples_answer_without_an_error(tmp_path: Path, model_path: Path) -> None:
    example, output = run_example("/v2/models/", tmp_path, model_path)
    answers, text = [], output.strip()
    while text:  # curl prints each JSON answer without a newline
        answer, end = json.JSONDecoder().raw_decode(text)
        answers.append(answer)
        text = text[end:].strip()
    assert len(answers) == len(re.findall(r"^curl ", example, re.MULTILINE))
    # Only KServe V1's :explain may fail: with a 501, for a predictor that offers no explain.
    unexplained = f"the {Predictor.framework} predictor has no explain method to call"
    expected = [] if hasattr(Predictor, "explain") else [unexplained]
    assert [answer["error"] for answer in answers if "error" in answer] == expected
    (inference,) = [answer for answer in answers if "id" in answer]
    assert inference["id"] == "1"
