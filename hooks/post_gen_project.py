"""Keep the files of the chosen model framework and print the next steps."""

import shutil
import sys
from pathlib import Path

FRAMEWORK = "{{ cookiecutter.model_framework }}"
PACKAGE = "{{ cookiecutter.package_name }}"
SLUG = "{{ cookiecutter.project_slug }}"

# Each framework ships its own predictor and training script, and may ship modules and tests of
# its own; only the chosen framework's files are kept.
FRAMEWORKS_DIR = Path("_frameworks")


def use_framework(framework: str, package_dir: Path, tests_dir: Path) -> None:
    chosen = FRAMEWORKS_DIR / framework
    if not chosen.is_dir():
        print(f"ERROR: model_framework {framework!r} has no files in the template", file=sys.stderr)
        sys.exit(1)
    for source in chosen.iterdir():
        is_test = source.name.startswith("test_") and source.suffix == ".py"
        destination = (tests_dir if is_test else package_dir) / source.name
        if destination.exists():
            print(f"ERROR: {source} would replace {destination}", file=sys.stderr)
            sys.exit(1)
        shutil.move(str(source), destination)
    shutil.rmtree(FRAMEWORKS_DIR)


def print_next_steps() -> None:
    print(
        f"""
Created {SLUG} ({FRAMEWORK}). Next steps:

  cd {SLUG}
  make install     # create .venv with uv and install the project
  make check       # lint, type-check and test it
  make run         # train the sample model if none exists, then serve on http://127.0.0.1:8000

Put your own model in: edit src/{PACKAGE}/predictor.py (see README.md).
"""
    )


def main() -> None:
    use_framework(FRAMEWORK, Path("src") / PACKAGE, Path("tests"))
    print_next_steps()


if __name__ == "__main__":
    main()
