"""Bake the template with its defaults into a temporary folder, serve the sample model, ask it
for one prediction, print the answer, and stop.

    make demo
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_env() -> dict[str, str]:
    """This environment minus its virtualenv, so that uv uses the baked project's own."""
    return {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_until_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"the service exited with code {server.returncode} before it was ready"
            )
        try:
            get_json(f"{base_url}/health/ready")
            return
        except OSError:  # refused, reset, or not answered yet while the model loads
            time.sleep(0.5)
    raise SystemExit(f"the service was not ready after {READY_TIMEOUT_SECONDS} s")


def stop_group(server: subprocess.Popen[bytes]) -> None:
    """Stop make and the service it started, and wait until both are gone."""
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="demo-") as workdir:
        step(f"cookiecutter --no-input {TEMPLATE} -o {workdir}")
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=workdir))
        env = project_env()

        for target in ("install", "train"):
            step(f"make {target}")
            subprocess.run(["make", target], cwd=project, env=env, check=True)

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        step(f"make run PORT={port}")
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"], cwd=project, env=env, start_new_session=True
        )
        try:
            wait_until_ready(base_url, server)
            spec = get_json(f"{base_url}/openapi.json")
            content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
            example = content["application/json"]["examples"]["median"]["value"]
            step(f"POST {base_url}/predict with the example request from /openapi.json")
            print(json.dumps(post_json(f"{base_url}/predict", example), indent=2), flush=True)
        finally:
            stop_group(server)
    step("done: the demo folder has been removed")


if __name__ == "__main__":
    sys.exit(main())
