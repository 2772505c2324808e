from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from .conftest import bake


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


def test_a_name_with_punctuation_is_slugified_into_valid_names(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Churn Model (v2)!")
    assert project.name == "churn-model-v2"
    assert (project / "src" / "churn_model_v2").is_dir()
