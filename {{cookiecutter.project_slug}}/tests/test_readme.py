"""The README's commands work as written."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .servers import start_gunicorn, stop

README = Path(__file__).parents[1] / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def test_the_predict_example_returns_a_prediction(tmp_path: Path, model_path: Path) -> None:
    # In a shell as the reader's: without this project's virtualenv, whose python is no help.
    venv_bin = Path(sys.prefix) / "bin"
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if Path(entry) != venv_bin
    )
    bash = shutil.which("bash", path=path)
    if bash is None or not all(shutil.which(tool, path=path) for tool in ("curl", "python3")):
        pytest.skip("the example needs bash, curl and python3")
    (example,) = [block for block in shell_blocks() if "localhost:8000/predict" in block]
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
    answer = json.loads(result.stdout)
    assert len(answer["predictions"]) == 1
    assert answer["model_version"]
