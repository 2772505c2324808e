"""Real servers for the tests: gunicorn with uvicorn workers, on a free port of 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.settings import Settings

CONFIG = Path(__file__).parents[1] / "gunicorn.conf.py"
PREFIX = Settings.model_config["env_prefix"]
WORKERS = 2
GRACEFUL_TIMEOUT = 10
# Bounds on waiting, not speed targets: generous, so that only a hang fails them.
STARTUP_TIMEOUT = 90
FAILURE_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        """Every line gunicorn, its workers and the app printed; each must be JSON."""
        parsed = []
        text = self.log_path.read_text()
        # Up to the last newline: a line that a process is still writing is read next time.
        complete = text[: text.rfind("\n") + 1]
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"log line {number} is not JSON: {line!r}")
        return parsed

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]

    def booted_pids(self) -> list[int]:
        prefix = "Booting worker with pid: "
        return [
            int(line["event"].removeprefix(prefix))
            for line in self.lines()
            if line["event"].startswith(prefix)
        ]

    def ready_pids(self) -> set[int]:
        return {line["pid"] for line in self.events("model_loaded")}

    def wait_for_ready_workers(self, pids: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(self.ready_pids() & set(self.live_worker_pids())) < pids:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode} before it was ready")
            if time.monotonic() > deadline:
                pytest.fail(f"fewer than {pids} workers were ready after {STARTUP_TIMEOUT} s")
            time.sleep(0.2)

    def wait_for_a_new_worker(self, known: set[int], timeout: float) -> None:
        """Wait until a worker not in `known` is ready (after a restart or a reload)."""
        deadline = time.monotonic() + timeout
        while not self.ready_pids() - known:
            assert time.monotonic() < deadline, f"no new worker was ready after {timeout} s"
            time.sleep(0.2)

    def live_worker_pids(self) -> list[int]:
        live = []
        for pid in self.booted_pids():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            live.append(pid)
        return live


def start_gunicorn(
    directory: Path, model_path: Path, workers: int = WORKERS, **extra_env: str | None
) -> Gunicorn:
    """gunicorn in `directory`, logging there; `extra_env` adds variables or removes them (None)."""
    port = free_port()
    env = {
        **os.environ,
        f"{PREFIX}MODEL_PATH": str(model_path),
        f"{PREFIX}HOST": "127.0.0.1",
        f"{PREFIX}PORT": str(port),
        f"{PREFIX}LOG_FORMAT": "json",
        f"{PREFIX}GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
        **extra_env,
    }
    log_path = directory / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)],
            cwd=directory,  # away from any .env of the project
            env={name: value for name, value in env.items() if value is not None},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Gunicorn(process=process, port=port, log_path=log_path)


def stop(server: Gunicorn) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=GRACEFUL_TIMEOUT + 20)


def request(url: str, body: Any = None) -> tuple[int, bytes]:
    """One request on its own connection, so that requests spread over the workers."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, response.read()
