import json
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("xgboost", "sklearn")


def bake(output_dir: Path, **context: str) -> Path:
    """Render the template with its defaults, overridden by `context`; return the project."""
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=str(output_dir), extra_context=context
        )
    )


def require(tool: str) -> str:
    """The path of `tool`; skip without it, but fail when REQUIRE_INTEGRATION=1 (in CI)."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"{tool} is required (REQUIRE_INTEGRATION=1) but is not installed")
        pytest.skip(f"{tool} is not installed")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_env() -> dict[str, str]:
    """This environment minus its virtualenv, so that uv uses the baked project's own."""
    return {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}


def run(
    command: list[str], cwd: Path, timeout: float = 600, env: Mapping[str, str] | None = None
) -> str:
    """Run `command` in `cwd`, with `env` added; fail the test with its output if it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=project_env() | dict(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-20000:]}\n--- stderr ---\n{result.stderr[-20000:]}"
        )
    return result.stdout


def checkov_report(*args: str, cwd: Path) -> dict[str, Any]:
    """checkov's JSON report on what `args` name. With --skip-download it makes no network call
    (it would otherwise fetch guidelines from its vendor, which is not reachable)."""
    command = [require("checkov"), *args, "--skip-download", "--output", "json"]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no report:\n{result.stdout[-5000:]}{result.stderr[-5000:]}")
    return report


@pytest.fixture(scope="session", params=FRAMEWORKS)
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project baked with the defaults and each framework, shared by read-only tests."""
    return bake(tmp_path_factory.mktemp("baked"), model_framework=request.param)
