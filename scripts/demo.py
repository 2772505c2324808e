"""Bake the template with its defaults into a temporary folder, serve the sample model, ask it
for one prediction, print the answer, and stop.

    make demo
"""

import json
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter
from processes import free_port, project_env, stop_group, wait_ready

TEMPLATE = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120


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
            wait_ready(f"{base_url}/health/ready", server, timeout=READY_TIMEOUT_SECONDS)
            spec = get_json(f"{base_url}/openapi.json")
            content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
            example = content["application/json"]["examples"]["median"]["value"]
            step(f"POST {base_url}/predict with the example request from /openapi.json")
            print(json.dumps(post_json(f"{base_url}/predict", example), indent=2), flush=True)
        finally:
            # As Ctrl-C in a terminal would: make then reports the interrupt, and nothing else.
            step("Ctrl-C: stop the server")
            stop_group(server, signal.SIGINT)
    step("done: the demo folder has been removed")


if __name__ == "__main__":
    sys.exit(main())
