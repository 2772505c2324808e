"""Install baked projects and run their own gates, as a user would: make install, lint, test."""

from pathlib import Path

import pytest

from .conftest import bake, require, run


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
    run(["make", "lint"], cwd=project)  # ruff check, ruff format --check, mypy --strict
    output = run(["make", "test"], cwd=project)
    assert " passed" in output
    assert "skipped" not in output


@pytest.mark.slow
def test_demo_serves_the_sample_model_and_prints_a_prediction() -> None:
    require("uv")
    require("make")
    output = run(["make", "demo"], cwd=Path(__file__).resolve().parents[1])
    assert '"predictions": [' in output
    assert '"model_version": "' in output
    assert "done: the demo folder has been removed" in output
