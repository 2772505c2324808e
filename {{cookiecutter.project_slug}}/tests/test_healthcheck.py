"""The container's HEALTHCHECK command, run as the image runs it, against real servers."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.healthcheck import ready_url
from {{ cookiecutter.package_name }}.settings import Settings

from .servers import STARTUP_TIMEOUT, free_port, start_gunicorn, stop

PREFIX = Settings.model_config["env_prefix"]


def healthcheck(directory: Path, port: int) -> subprocess.CompletedProcess[str]:
    """`python -m <package>.healthcheck` with the container's settings: every interface."""
    env = {**os.environ, f"{PREFIX}HOST": "0.0.0.0", f"{PREFIX}PORT": str(port)}  # noqa: S104
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.healthcheck"],
        cwd=directory,  # away from any .env of the project
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def serve_without_loading(settings: Settings) -> Iterator[int]:
    """The real app on a real socket, its lifespan never run: the model is never loaded."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000/health/ready"),  # noqa: S104
        ("::", "http://127.0.0.1:8000/health/ready"),
        ("127.0.0.1", "http://127.0.0.1:8000/health/ready"),
        ("::1", "http://[::1]:8000/health/ready"),
    ],
)
def test_ready_url_asks_this_host_at_the_service_port(host: str, url: str) -> None:
    assert ready_url(Settings(host=host, _env_file=None)) == url


def test_healthcheck_passes_once_gunicorn_serves_the_model(
    tmp_path: Path, model_path: Path
) -> None:
    server = start_gunicorn(tmp_path, model_path, workers=1)
    try:
        server.wait_for_ready_workers(1)
        result = healthcheck(tmp_path, server.port)
    finally:
        stop(server)
    assert result.returncode == 0, result.stderr


def test_healthcheck_fails_while_the_model_is_not_loaded(
    tmp_path: Path, settings: Settings
) -> None:
    with serve_without_loading(settings) as port:
        result = healthcheck(tmp_path, port)
    assert result.returncode == 1
    assert "503" in result.stderr


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    result = healthcheck(tmp_path, free_port())
    assert result.returncode == 1
    assert "not ready" in result.stderr
