import gc
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.serving.loader import ModelLoadError
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import Row

PACKAGE = "{{ cookiecutter.package_name }}"


def test_live_and_ready_after_the_model_loaded(client: TestClient) -> None:
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").json() == {"status": "ready"}


def test_health_routes_answer_head(app: FastAPI) -> None:
    with TestClient(app) as client:
        for path in ("/health/live", "/health/ready"):
            response = client.head(path)
            assert (response.status_code, response.content) == (200, b"")
    not_started = TestClient(app)
    assert not_started.head("/health/ready").status_code == 503


def test_serving_keeps_the_garbage_collector_off_what_startup_loaded(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the libraries' and the model's objects
    assert gc.get_freeze_count() == 0


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_header(client: TestClient) -> None:
    response = client.get(
        "/health/live/", headers={"Host": "elsewhere.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_not_ready_before_the_model_is_loaded(app: FastAPI, row: Row) -> None:
    client = TestClient(app)  # not entered: the lifespan has not run
    assert client.get("/health/live").status_code == 200
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["detail"] == "the model is not loaded yet"
    assert client.post("/predict", json={"instances": [row]}).status_code == 503
    assert client.get("/model").status_code == 503


def test_startup_fails_on_a_missing_model(tmp_path: Path) -> None:
    settings = Settings(model_path=tmp_path / "absent.model", log_format="json", _env_file=None)
    with pytest.raises(ModelLoadError), TestClient(create_app(settings)):
        pass


def test_server_exits_non_zero_naming_the_missing_model(tmp_path: Path) -> None:
    missing = tmp_path / "absent.model"
    prefix = Settings.model_config["env_prefix"]
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE],
        env={f"{prefix}MODEL_PATH": str(missing), f"{prefix}LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    failures = [line for line in result.stdout.splitlines() if "model_load_failed" in line]
    assert len(failures) == 1
    assert str(missing) in failures[0]
