"""The generated project's container image, built and run for real with buildah.

The default (xgboost) project is baked, locked and trained as a user would (`make lock`,
`make train`), and its unchanged Dockerfile is built against a local stand-in for the official
Python base image (tests/images.py). The sklearn project shares the Dockerfile but for its
package name: the static checks of test_local_stack.py cover both.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import TEMPLATE, bake, free_port, require, run
from .images import (
    Container,
    build_image,
    container,
    container_processes,
    ensure_python_base,
    ids_of,
    stop,
)

IMAGE = "model-service:test"
PACKAGE = "model_service"
PREFIX = "MODEL_SERVICE_"
APP_UID = APP_GID = 10001
# Bounds on waiting, not speed targets: generous, so that only a hang fails them.
READY_TIMEOUT = 120

pytestmark = pytest.mark.container


def default_python_version() -> str:
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"][0]


def fetch(url: str, body: Any = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http(url: str, body: Any = None) -> tuple[int, Any]:
    """Status and JSON answer of one request."""
    status, answer = fetch(url, body)
    return status, json.loads(answer)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, locked and with its sample model in models/, ready to build."""
    require("uv")
    require("make")
    project = bake(tmp_path_factory.mktemp("image"))
    run(["make", "lock"], cwd=project)
    run(["make", "train"], cwd=project)
    (project / "models" / "notes.txt").write_text("not the model: the image leaves it out\n")
    return project


@pytest.fixture(scope="module")
def image(project: Path) -> dict[str, Any]:
    """The image built from the project's Dockerfile; its Docker configuration."""
    for tool in ("buildah", "podman", "debootstrap"):
        require(tool)
    ensure_python_base(default_python_version())
    return build_image(project, IMAGE)


@dataclass
class Served:
    runner: subprocess.Popen[bytes]
    port: int
    container: Container
    env: dict[str, str]
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_until_ready(served: Served, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if served.runner.poll() is not None:
            pytest.fail(f"the container exited with {served.runner.returncode}:\n{log.read_text()}")
        try:
            if http(f"{served.url}/health/ready")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(f"not ready after {READY_TIMEOUT} s:\n{log.read_text()}")
        time.sleep(0.2)


@contextmanager
def serving(
    config: dict[str, Any],
    log: Path,
    env: dict[str, str] | None = None,
    mounts: Sequence[str] = (),
) -> Iterator[Served]:
    """Run the image's CMD, as its USER, on a free loopback port; stop it with SIGTERM after."""
    port = free_port()
    env = {f"{PREFIX}HOST": "127.0.0.1", f"{PREFIX}PORT": str(port), **(env or {})}
    with container(IMAGE) as box:
        runner = box.start(config["Cmd"], env, log, mounts)
        served = Served(runner=runner, port=port, container=box, env=env)
        try:
            wait_until_ready(served, log)
            yield served
        finally:
            served.exit_code = stop(runner)


def test_image_declares_user_command_environment_and_healthcheck(image: dict[str, Any]) -> None:
    assert image["User"] == f"{APP_UID}:{APP_GID}"
    assert image["Cmd"] == ["gunicorn", "--config", "gunicorn.conf.py"]
    assert image["WorkingDir"] == "/app"
    assert "8000/tcp" in image["ExposedPorts"]
    env = dict(item.split("=", 1) for item in image["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/metrics"
    assert env[f"{PREFIX}HOST"] == "0.0.0.0"  # noqa: S104 - the container's own interfaces
    assert env[f"{PREFIX}MODEL_PATH"] == "models/model.ubj"
    test = image["Healthcheck"]["Test"]
    assert test[0] == "CMD"  # exec form: no shell needed, none assumed
    assert test[1] == "python"


def test_image_holds_the_service_but_no_build_or_dev_tools(image: dict[str, Any]) -> None:
    probe = """
import importlib.util, json, os, shutil
print(json.dumps({
    "service": importlib.util.find_spec("model_service") is not None,
    "gunicorn": shutil.which("gunicorn"),
    "uv": shutil.which("uv") or os.path.exists("/opt/uv"),
    "sources": os.path.exists("/src"),
    "dev": [m for m in ("pytest", "mypy", "sklearn") if importlib.util.find_spec(m)],
    "model": sorted(os.listdir("/app/models")),
    "metrics_owner": [os.stat("/metrics").st_uid, os.stat("/metrics").st_gid],
    "metrics_writable": os.access("/metrics", os.W_OK),
    "code_writable": [p for p in ("/app", "/app/gunicorn.conf.py", "/opt/venv")
                      if os.access(p, os.W_OK)],
}))
"""
    with container(IMAGE) as box:
        result = box.run(["python", "-c", probe], env={})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["service"]
    assert found["gunicorn"] == "/opt/venv/bin/gunicorn"
    assert not found["uv"], "uv belongs in the builder stage only"
    assert not found["sources"]
    assert found["dev"] == [], "the dev group was installed"
    assert found["model"] == ["model.metadata.json", "model.ubj"]  # the setting's, no more
    assert found["metrics_owner"] == [APP_UID, APP_GID]
    assert found["metrics_writable"]
    assert found["code_writable"] == [], "the service can change its own code"


def test_healthcheck_fails_while_nothing_serves(image: dict[str, Any]) -> None:
    with container(IMAGE) as box:
        result = box.run(image["Healthcheck"]["Test"][1:], env={f"{PREFIX}PORT": str(free_port())})
    assert result.returncode != 0
    assert "not ready" in result.stderr


def test_service_runs_as_10001_predicts_and_passes_its_healthcheck(
    image: dict[str, Any], tmp_path: Path
) -> None:
    with serving(image, tmp_path / "service.log") as served:
        processes = container_processes(served.runner)
        assert len(processes) >= 2, "no gunicorn master and worker"  # master and worker
        for pid in processes:
            assert ids_of(pid) == ({APP_UID}, {APP_GID})

        assert http(f"{served.url}/health/ready") == (200, {"status": "ready"})
        _, openapi = http(f"{served.url}/openapi.json")
        content = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]
        example = content["application/json"]["examples"]["median"]["value"]
        status, answer = http(f"{served.url}/predict", example)
        assert status == 200, answer
        assert len(answer["predictions"]) == len(example["instances"]) == 1

        health = served.container.run(image["Healthcheck"]["Test"][1:], env=served.env)
        assert health.returncode == 0, health.stderr
    assert served.exit_code == 0, "gunicorn did not stop cleanly on SIGTERM"


def test_model_mounted_at_run_time_is_served_instead_of_the_baked_one(
    image: dict[str, Any], project: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir(mode=0o755)
    mounted = models / "other.ubj"
    # Another training split, so another model file.
    script = f"import pathlib, {PACKAGE}.train as t; t.train(pathlib.Path(r'{mounted}'), seed=1)"
    run(["uv", "run", "python", "-c", script], cwd=project)
    mounted_version = json.loads((models / "other.metadata.json").read_text())["version"]
    baked_version = json.loads((project / "models/model.metadata.json").read_text())["version"]
    assert mounted_version != baked_version

    # As docker-compose.yml runs it: /metrics a fresh tmpfs, the model a read-only mount.
    mounts = (f"{models}:/models:ro", "tmpfs:/metrics")
    env = {f"{PREFIX}MODEL_PATH": "/models/other.ubj"}
    with serving(image, tmp_path / "service.log", env, mounts) as served:
        status, model = http(f"{served.url}/model")
        assert status == 200
        assert model["version"] == mounted_version
        # The worker writes its samples to files in the tmpfs; /metrics reads them back.
        status, metrics = fetch(f"{served.url}/metrics")
        assert status == 200
        assert b'model_info{framework="xgboost"' in metrics
    assert served.exit_code == 0
