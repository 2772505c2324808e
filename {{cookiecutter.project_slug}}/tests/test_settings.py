from pathlib import Path

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.settings import Settings, read_settings

PREFIX = Settings.model_config["env_prefix"]


def test_defaults_serve_the_default_model_on_port_8000() -> None:
    settings = Settings(_env_file=None)
    assert settings.model_path == Path("{{ cookiecutter._model_file[cookiecutter.model_framework] }}")
    assert settings.port == 8000
    assert settings.model_threads == 1


def test_settings_read_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{PREFIX}PORT", "9123")
    monkeypatch.setenv(f"{PREFIX}MODEL_PATH", "/srv/model.bin")
    monkeypatch.setenv("PORT", "1")  # unprefixed variables are not ours
    settings = Settings(_env_file=None)
    assert settings.port == 9123
    assert settings.model_path == Path("/srv/model.bin")


def test_settings_read_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{PREFIX}MAX_ROWS=7\n")
    assert Settings(_env_file=env_file).max_rows == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", "0"), ("max_rows", "0"), ("log_format", "xml"), ("model_threads", "-1")],
)
def test_invalid_setting_is_rejected_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"{PREFIX}{field.upper()}", value)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None)
    assert error.value.errors()[0]["loc"] == (field,)


def test_entry_points_name_each_invalid_variable_and_exit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # away from any .env
    monkeypatch.setenv(f"{PREFIX}PORT", "abc")
    monkeypatch.setenv(f"{PREFIX}LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as stopped:
        read_settings()
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"invalid setting {PREFIX}PORT='abc': ")
    assert lines[1].startswith(f"invalid setting {PREFIX}LOG_LEVEL='loud': ")


def test_env_example_lists_every_setting_with_its_default() -> None:
    example = Path(__file__).parents[1] / ".env.example"
    lines = [
        line.lstrip("# ")
        for line in example.read_text().splitlines()
        if line.lstrip("# ").startswith(PREFIX)
    ]
    values = dict(line.split("=", 1) for line in lines)
    defaults = Settings(_env_file=None)
    assert set(values) == {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    given = Settings.model_validate(
        {name: values[f"{PREFIX}{name.upper()}"] for name in Settings.model_fields}
    )
    assert given == defaults
    for name in Settings.model_fields:
        assert values[f"{PREFIX}{name.upper()}"].lower() == str(getattr(defaults, name)).lower()


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`{PREFIX}{name.upper()}`" in readme
