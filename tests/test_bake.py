import ast
import json
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import TEMPLATE, bake, require, run

JINJA_MARKERS = ("{{ cookiecutter", "{{cookiecutter", "{%", "%}")
# Where teams install a project: Linux servers and containers on either architecture, and their
# laptops. The oldest and newest Pythons the prompt offers.
PLATFORMS = (
    "x86_64-manylinux_2_28",
    "aarch64-manylinux_2_28",
    "aarch64-apple-darwin",
    "x86_64-apple-darwin",
    "x86_64-pc-windows-msvc",
)
OFFERED_PYTHONS = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
PYTHONS = (OFFERED_PYTHONS[0], OFFERED_PYTHONS[-1])


def files_of(project: Path) -> list[Path]:
    return sorted(path for path in project.rglob("*") if path.is_file())


def test_no_template_syntax_survives_rendering(baked: Path) -> None:
    for path in files_of(baked):
        relative = str(path.relative_to(baked))
        assert "cookiecutter" not in relative
        text = path.read_text()
        for marker in JINJA_MARKERS:
            assert marker not in text, f"{relative} still contains {marker!r}"


def test_every_structured_file_parses(baked: Path) -> None:
    parsers = {
        ".py": lambda text: ast.parse(text),
        ".toml": tomllib.loads,
        ".json": json.loads,
        ".yml": lambda text: list(yaml.safe_load_all(text)),
        ".yaml": lambda text: list(yaml.safe_load_all(text)),
    }
    parsed = 0
    for path in files_of(baked):
        if path.suffix in parsers:
            parsers[path.suffix](path.read_text())
            parsed += 1
    assert parsed >= 20


# Optional features, each a package that can be deleted with its few lines in the core.
FEATURE_PACKAGES = {"protocols": 520, "monitoring": 300}
# The core: what the service is without them (1,500 lines), and the lines that plug them in.
CORE_LINES = 1600


def test_the_service_code_stays_small(baked: Path) -> None:
    """The code a team inherits: a small core, small optional packages, no module over 200."""
    package = baked / "src" / "model_service"
    sizes = {
        path.relative_to(baked): len(path.read_text().splitlines())
        for path in [*package.glob("**/*.py"), baked / "gunicorn.conf.py"]
    }
    features = dict.fromkeys(FEATURE_PACKAGES, 0)
    for path, lines in sizes.items():
        if path.parts[2:3] and path.parts[2] in features:
            features[path.parts[2]] += lines
    core = sum(sizes.values()) - sum(features.values())
    assert core <= CORE_LINES, sorted(sizes.items(), key=lambda item: -item[1])
    for name, lines in features.items():
        assert lines <= FEATURE_PACKAGES[name], (name, lines)
    assert max(sizes.values()) <= 200, max(sizes, key=lambda path: sizes[path])


def test_a_long_project_name_still_passes_ruff(tmp_path: Path) -> None:
    """Names reach docstrings, imports and code: no rendered line may outgrow the line length."""
    project = bake(tmp_path, project_name="Customer Lifetime Value Prediction Service")
    ruff = str(Path(sys.executable).parent / "ruff")
    run([ruff, "check", "--no-cache", "."], cwd=project)
    run([ruff, "format", "--check", "--no-cache", "."], cwd=project)


def test_defaults_derive_names_from_the_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Fraud Scorer")
    assert project.name == "fraud-scorer"
    assert (project / "src" / "fraud_scorer" / "app.py").is_file()
    settings = (project / "src" / "fraud_scorer" / "settings.py").read_text()
    assert 'env_prefix="FRAUD_SCORER_"' in settings
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"] == (
        "fraud-scorer"
    )


@pytest.mark.parametrize(
    ("framework", "kept", "removed"),
    [
        ("xgboost", "import xgboost", "joblib"),
        ("sklearn", "import joblib", "xgboost"),
    ],
)
def test_only_the_chosen_framework_is_kept(
    tmp_path: Path, framework: str, kept: str, removed: str
) -> None:
    project = bake(tmp_path, model_framework=framework)
    package = project / "src" / "model_service"
    assert not (project / "_frameworks").exists()
    assert kept in (package / "predictor.py").read_text()
    assert kept in (package / "train.py").read_text()
    # Whatever the case: "XGBoost" in prose as much as "xgboost" in code.
    others = [*package.glob("**/*.py"), *(project / "tests").glob("**/*.py")]
    for path in [*others, project / "README.md", project / "gunicorn.conf.py"]:
        text = path.read_text().lower()
        assert removed not in text, f"{path.relative_to(project)} mentions {removed}"
    # A framework's own tests go with the project's tests, not into the package.
    assert not list(package.glob("test_*.py"))
    assert kept in (project / "tests" / "test_predictor.py").read_text()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    dependencies = " ".join(pyproject["project"]["dependencies"])
    assert removed not in dependencies
    assert (framework if framework == "xgboost" else "scikit-learn") in dependencies


def test_python_version_is_used_throughout(tmp_path: Path) -> None:
    project = bake(tmp_path, python_version="3.12")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.12"
    assert pyproject["tool"]["ruff"]["target-version"] == "py312"
    assert pyproject["tool"]["mypy"]["python_version"] == "3.12"


def test_post_generation_prints_next_steps(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bake(tmp_path)
    out = capfd.readouterr().out
    assert "cd model-service" in out
    assert "make run" in out
    assert "src/model_service/predictor.py" in out


def test_make_run_and_serve_set_the_port_only_when_told_to(tmp_path: Path) -> None:
    """`make run PORT=...` sets it; without PORT, the port setting (.env included) applies."""
    project = bake(tmp_path)
    (project / ".env").write_text("MODEL_SERVICE_PORT=9100\n")
    for target in ("run", "serve"):
        given = run(["make", "--dry-run", target, "PORT=9000"], cwd=project)
        assert "MODEL_SERVICE_PORT=9000 uv run" in given
        default = run(["make", "--dry-run", target], cwd=project)
        assert "MODEL_SERVICE_PORT=" not in default  # so .env's 9100 is what the service reads
    loadtest = run(["make", "--dry-run", "loadtest"], cwd=project)
    assert "--host http://127.0.0.1:8000 " in loadtest


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_dependency_installs_from_a_wheel(baked: Path, platform: str, python: str) -> None:
    """Nothing to compile at `make install`: a package with no wheel for the platform is built
    from source, which needs a compiler, and for XGBoost CMake and OpenMP too."""
    run(
        [
            require("uv"), "pip", "compile", "pyproject.toml", "--group", "dev", "--quiet",
            "--python-platform", platform, "--python-version", python,
            "--only-binary", ":all:", "--output-file", "/dev/null",
        ],
        cwd=baked,
        timeout=300,
    )  # fmt: skip
