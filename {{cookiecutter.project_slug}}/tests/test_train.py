"""The training script and the commands around it never write over a model, nor train the
sample into a path the user named."""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.metadata import metadata_path
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.train import main

PROJECT = Path(__file__).parents[1]
PREFIX = Settings.model_config["env_prefix"]
DEFAULT_PATH = Settings.model_fields["model_path"].default


def test_train_refuses_to_write_over_a_model(tmp_path: Path, model_path: Path) -> None:
    target = tmp_path / model_path.name
    target.write_bytes(b"the user's own model")
    with pytest.raises(SystemExit, match="exists"):
        main(["--output", str(target)])
    assert target.read_bytes() == b"the user's own model"
    assert not metadata_path(target).exists()


def test_if_missing_leaves_a_model_without_metadata_alone(tmp_path: Path, model_path: Path) -> None:
    target = tmp_path / model_path.name
    shutil.copy(model_path, target)  # the service refuses it, saying how to write the metadata
    main(["--output", str(target), "--if-missing"])
    assert target.read_bytes() == model_path.read_bytes()
    assert not metadata_path(target).exists()


def test_if_missing_trains_only_into_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(f"{PREFIX}MODEL_PATH", raising=False)
    mistyped = tmp_path / "modles" / DEFAULT_PATH.name
    main(["--output", str(mistyped), "--if-missing"])
    assert not mistyped.parent.exists()
    main(["--if-missing"])
    assert (tmp_path / DEFAULT_PATH).is_file()
    assert metadata_path(tmp_path / DEFAULT_PATH).is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_run_and_serve_fail_on_a_mistyped_model_path_without_training(
    tmp_path: Path, target: str
) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    mistyped = tmp_path / "modles" / DEFAULT_PATH.name
    env = {**os.environ, f"{PREFIX}MODEL_PATH": str(mistyped), f"{PREFIX}LOG_FORMAT": "json"}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [make, target, f"PORT={free_port()}"], cwd=PROJECT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "model_load_failed" in result.stdout
    assert str(mistyped) in result.stdout
    assert not mistyped.parent.exists()
