"""The generated README's shell commands, run in a baked project as a reader would run them.

Its `docker` and `kubectl apply` commands need a Docker engine and a cluster, which these machines
do not have: tests/test_container.py builds and runs the same Dockerfile with buildah, and
tests/test_k8s.py renders and validates the same overlays with `kubectl kustomize`.
"""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import bake, free_port, project_env, require, run

READY_TIMEOUT = 120


def shell_blocks(project: Path) -> list[str]:
    text = (project / "README.md").read_text()
    return re.findall(r"^ *```sh\n(.*?)^ *```", text, re.MULTILINE | re.DOTALL)


def block_starting(project: Path, first: str) -> list[str]:
    """The commands of the first block that starts with `first`, comments cut."""
    block = next(block for block in shell_blocks(project) if block.startswith(first))
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@contextmanager
def in_background(command: str, project: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`command &` in a shell; stopped as Ctrl-C would stop it."""
    process = subprocess.Popen(
        ["bash", "-c", command], cwd=project, env=project_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def curl_until_ready(url: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        answer = subprocess.run(["curl", "-s", url], capture_output=True, text=True, check=False)
        if answer.returncode == 0 and "ready" in answer.stdout:
            return answer.stdout
        time.sleep(0.5)
    pytest.fail(f"{url} was not ready after {READY_TIMEOUT} s")


@pytest.mark.slow
def test_the_readme_commands_install_train_serve_and_load_test(tmp_path: Path) -> None:
    require("uv")
    require("make")
    require("curl")
    project = bake(tmp_path)

    install, serve, ready = block_starting(project, "make install")
    assert (install, serve) == ("make install", "make run")
    run(install.split(), cwd=project)

    # make lock && make train: the image's lock file and the model
    (lock_and_train, *_) = block_starting(project, "make lock && make train")
    run(["bash", "-c", lock_and_train], cwd=project)
    assert (project / "uv.lock").is_file()
    assert (project / "models" / "model.metadata.json").is_file()

    # make run, on a port of its own as the README says it may; curl from another shell
    port = free_port()
    with in_background(f"{serve} PORT={port}", project) as server:
        assert ready == "curl -s localhost:8000/health/ready"
        answer = curl_until_ready(ready.split()[-1].replace("8000", str(port)), server)
        assert answer == '{"status":"ready"}'

    # make serve &; make loadtest with the README's targets, for 10 s rather than a minute
    serve_line, loadtest = block_starting(project, "make serve &")
    assert serve_line == "make serve &"
    port = free_port()
    with in_background(f"make serve PORT={port}", project) as server:
        curl_until_ready(f"localhost:{port}/health/ready", server)
        assert "RUN_TIME=1m" in loadtest
        command = loadtest.replace("RUN_TIME=1m", "RUN_TIME=10s") + f" PORT={port}"
        result = subprocess.run(
            ["bash", "-c", command], cwd=project, env=project_env(), capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "targets met" in result.stdout
