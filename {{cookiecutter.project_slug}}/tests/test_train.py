import shutil
from pathlib import Path

from {{ cookiecutter.package_name }}.metadata import metadata_path
from {{ cookiecutter.package_name }}.train import main


def test_train_if_missing_trains_only_when_the_model_or_its_metadata_is_missing(
    tmp_path: Path, model_path: Path
) -> None:
    target = tmp_path / model_path.name
    shutil.copy(model_path, target)  # a model without its metadata: the service would refuse it
    main(["--output", str(target), "--if-missing"])
    assert metadata_path(target).exists()
    trained = target.stat().st_mtime_ns
    main(["--output", str(target), "--if-missing"])
    assert target.stat().st_mtime_ns == trained
