import ast
import importlib.util
import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from .conftest import TEMPLATE, bake


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
    spec = importlib.util.spec_from_file_location("hook", TEMPLATE / "hooks" / "pre_gen_project.py")
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
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
