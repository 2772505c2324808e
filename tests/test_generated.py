"""Install baked projects and run their own gates, as a user would: make install, lint, test."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import TEMPLATE, bake, require, run
from .test_hooks import load_hook

OFFERED_PYTHONS = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
# The newest Python the prompt offers: its dependencies resolve to newer releases (xgboost 3.4
# and later need Python 3.12).
NEWEST_PYTHON = OFFERED_PYTHONS[-1]
# Another one that is not the default, for the other framework.
OTHER_PYTHON = OFFERED_PYTHONS[1]
# The tests of the model and the API, in process: those that start servers and load generators
# are left to the runs above.
IN_PROCESS_TESTS = ("tests/test_predictor.py", "tests/test_train.py", "tests/api", "tests/serving")


@pytest.mark.slow
@pytest.mark.parametrize(
    "context",
    [
        {"model_framework": "xgboost"},
        {"model_framework": "sklearn", "project_name": "Fraud Scorer"},
    ],
    ids=["xgboost", "sklearn"],
)
def test_baked_project_passes_its_own_lint_types_and_tests(
    tmp_path: Path, context: dict[str, str]
) -> None:
    require("uv")
    require("make")
    project = bake(tmp_path, **context)
    run(["make", "install"], cwd=project)
    # A project named after anything it installs would not install, or not import: the
    # pre-generation hook must refuse every such name.
    hook = load_hook("pre_gen_project.py")
    assert installed_names(project) - hook.DEPENDENCIES - sys.stdlib_module_names == set()
    run(["make", "lint"], cwd=project)  # ruff check, ruff format --check, mypy --strict
    output = run(["make", "test"], cwd=project)
    assert " passed" in output
    assert "skipped" not in output


@pytest.mark.slow
def test_demo_serves_the_sample_model_and_prints_a_prediction() -> None:
    require("uv")
    require("make")
    output = run(["make", "demo"], cwd=TEMPLATE)
    assert '"predictions": [' in output
    assert '"model_version": "' in output
    assert "done: the demo folder has been removed" in output


def installed_names(project: Path) -> set[str]:
    """The distributions of the project's lock file, and the modules installed with them."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    names = {package["name"].replace("-", "_") for package in lock["package"]}
    script = "import importlib.metadata as m; print(*m.packages_distributions())"
    modules = run(["uv", "run", "python", "-c", script], cwd=project).split()
    # Left out: private modules, and the helper modules mypyc compiles into some wheels, named
    # by a hash that changes with each release (`<hash>__mypyc`).
    names |= {
        name
        for name in modules
        if name.isidentifier() and not name.startswith("_") and not name.endswith("__mypyc")
    }
    (package,) = [path.name for path in (project / "src").iterdir()]
    return names - {package}


def find_python(version: str) -> str | None:
    """An interpreter of that version on this machine: on the PATH, or one that pyenv installed.

    uv cannot download one here: the machines reach PyPI and Debian's mirror, not the internet.
    """
    candidates = [shutil.which(f"python{version}")]
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        versions = Path(root.stdout.strip()) / "versions"
        candidates += sorted(str(path) for path in versions.glob(f"{version}*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def require_python(version: str) -> str:
    """An interpreter of that version; skip without one, but fail when REQUIRE_INTEGRATION=1."""
    python = find_python(version)
    if python is None:
        message = f"no Python {version} on this machine, and uv cannot download one here"
        if os.environ.get("REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"{message} (REQUIRE_INTEGRATION=1)")
        pytest.skip(message)
    return python


def venv_python_version(project: Path, env: dict[str, str]) -> str:
    script = "import sys; print('%d.%d' % sys.version_info[:2])"
    return run(["uv", "run", "python", "-c", script], cwd=project, env=env).strip()


@pytest.mark.slow
def test_baked_project_on_the_newest_python_passes_its_own_gates(tmp_path: Path) -> None:
    require("uv")
    require("make")
    python = require_python(NEWEST_PYTHON)
    project = bake(tmp_path, python_version=NEWEST_PYTHON)
    env = {"UV_PYTHON": python}
    run(["make", "install"], cwd=project, env=env)
    assert venv_python_version(project, env) == NEWEST_PYTHON
    run(["make", "lint"], cwd=project, env=env)
    output = run(["make", "test"], cwd=project, env=env)
    assert " passed" in output
    assert "skipped" not in output


@pytest.mark.slow
def test_sklearn_project_on_another_python_passes_lint_types_and_its_model_tests(
    tmp_path: Path,
) -> None:
    require("uv")
    require("make")
    python = require_python(OTHER_PYTHON)
    project = bake(tmp_path, model_framework="sklearn", python_version=OTHER_PYTHON)
    env = {"UV_PYTHON": python}
    run(["make", "install"], cwd=project, env=env)
    assert venv_python_version(project, env) == OTHER_PYTHON
    run(["make", "lint"], cwd=project, env=env)
    output = run(["uv", "run", "pytest", *IN_PROCESS_TESTS], cwd=project, env=env)
    assert " passed" in output
    assert "skipped" not in output
