"""Install baked projects and run their own gates, as a user would: make install, lint, test."""

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import TEMPLATE, bake, require, run
from .test_hooks import load_hook

# The newest Python the prompt offers: its dependencies resolve to newer releases (xgboost 3.4
# and later need Python 3.12).
NEWEST_PYTHON = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"][-1]


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


@pytest.mark.slow
def test_baked_project_on_the_newest_python_passes_its_own_gates(tmp_path: Path) -> None:
    require("uv")
    require("make")
    python = find_python(NEWEST_PYTHON)
    if python is None:
        pytest.skip(f"no Python {NEWEST_PYTHON} on this machine, and uv cannot download one here")
    project = bake(tmp_path, python_version=NEWEST_PYTHON)
    env = {"UV_PYTHON": python}
    run(["make", "install"], cwd=project, env=env)
    run(["make", "lint"], cwd=project, env=env)
    output = run(["make", "test"], cwd=project, env=env)
    assert " passed" in output
    assert "skipped" not in output
