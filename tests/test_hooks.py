import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException

from .conftest import TEMPLATE, bake


def load_hook(name: str) -> Any:
    spec = importlib.util.spec_from_file_location("hook", TEMPLATE / "hooks" / name)
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"project_slug": "class"}, "project_slug 'class' is a Python keyword"),
        ({"project_slug": "json"}, "project_slug 'json' would shadow the standard library"),
        ({"project_slug": "9-lives"}, "project_slug '9-lives' is not valid"),
        ({"project_slug": "my_service"}, "project_slug 'my_service' is not valid"),
        ({"project_slug": "model--service"}, "project_slug 'model--service' is not valid"),
        ({"package_name": "import"}, "package_name 'import' is a Python keyword"),
        ({"package_name": "match"}, "package_name 'match' is a Python keyword"),
        ({"package_name": "logging"}, "package_name 'logging' would shadow the standard library"),
        ({"package_name": "fastapi"}, "package_name 'fastapi' would shadow a package"),
        ({"package_name": "gunicorn"}, "package_name 'gunicorn' would shadow a package"),
        ({"package_name": "Model-Service"}, "package_name 'Model-Service' is not a valid"),
        ({"package_name": "model service"}, "package_name 'model service' is not a valid"),
        ({"env_prefix": "model_"}, "env_prefix 'model_' is not valid"),
        ({"env_prefix": "MODEL"}, "env_prefix 'MODEL' is not valid"),
        ({"project_slug": "test"}, "project_slug 'test' would shadow Python's test package"),
        ({"package_name": "tests"}, "package_name 'tests' would shadow Python's test package"),
        ({"package_name": "scipy"}, "package_name 'scipy' would shadow a package"),
        ({"project_slug": 'my"slug'}, """project_slug 'my"slug' is not valid"""),
        ({"project_name": 'The "Best" Model', "project_slug": "best"}, "project_name 'The"),
        ({"author": "Jane\\Doe"}, "author 'Jane\\\\Doe' is not valid: it may not contain"),
        ({"project_slug": "my-slug "}, "project_slug 'my-slug ' is not valid"),
        ({"author": "Jane\n"}, "author 'Jane\\n' is not valid"),
        ({"project_name": 'a"""b', "project_slug": "ab"}, 'project_name \'a"""b\' is not valid'),
    ],
)
def test_invalid_name_is_rejected_with_its_reason_and_nothing_is_left(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], context: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, **context)
    assert message in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_package_the_generated_project_imports_is_a_name_it_refuses(baked: Path) -> None:
    hook = load_hook("pre_gen_project.py")
    imported = set()
    for path in baked.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    (package,) = [path.name for path in (baked / "src").iterdir()]
    assert imported - hook.DEPENDENCIES - sys.stdlib_module_names - {package} == set()


def test_a_name_with_punctuation_is_slugified_into_valid_names(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Churn Model (v2)!")
    assert project.name == "churn-model-v2"
    assert (project / "src" / "churn_model_v2").is_dir()


def framework_files(root: Path, *names: str) -> tuple[Path, Path]:
    """A framework folder holding `names`, beside an empty package and tests folder."""
    chosen = root / "_frameworks" / "xgboost"
    chosen.mkdir(parents=True)
    for name in names:
        (chosen / name).write_text(f"# {name}\n")
    (root / "package").mkdir()
    (root / "tests").mkdir()
    return root / "package", root / "tests"


def test_a_frameworks_tests_go_to_the_tests_and_its_other_files_to_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    package, tests = framework_files(tmp_path, "predictor.py", "test_predictor.py", "test_rows.csv")
    load_hook("post_gen_project.py").use_framework("xgboost", package, tests)
    assert sorted(path.name for path in package.iterdir()) == ["predictor.py", "test_rows.csv"]
    assert [path.name for path in tests.iterdir()] == ["test_predictor.py"]
    assert not (tmp_path / "_frameworks").exists()


def test_a_framework_file_never_replaces_one_of_the_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    package, tests = framework_files(tmp_path, "test_predict.py")
    (tests / "test_predict.py").write_text("# the project's own\n")
    with pytest.raises(SystemExit):
        load_hook("post_gen_project.py").use_framework("xgboost", package, tests)
    assert "would replace" in capsys.readouterr().err
    assert (tests / "test_predict.py").read_text() == "# the project's own\n"
